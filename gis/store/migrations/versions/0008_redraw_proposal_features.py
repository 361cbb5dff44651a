"""redraw proposal features: an invalid proposal has no draft generation (its shapes may not even be
polygons), so the proposed features are kept on the redraw itself for its before/after map

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column('redraw', sa.Column('proposal', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    op.drop_column('redraw', 'proposal')
