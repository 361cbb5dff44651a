"""generation activations: the history of which generation was active when (for `at=DATE`)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('generation_activation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['generation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('generation_activation_at', 'generation_activation', ['at'], unique=False)
    # what is known from before: each generation's last activation
    op.execute("""INSERT INTO generation_activation (generation_id, at)
                  SELECT id, activated_at FROM generation WHERE activated_at IS NOT NULL ORDER BY activated_at""")


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index('generation_activation_at', table_name='generation_activation')
    op.drop_table('generation_activation')
