"""open station kinds: a station's kind is free text up to 64 characters (there was never a CHECK on it,
but the column held only 32)

Revision ID: 0007
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0005'  # the lead chains this after 0006 (API keys) when both land
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.alter_column('station', 'kind', type_=sa.String(length=64), existing_type=sa.String(length=32),
                    existing_nullable=False)


def downgrade() -> None:
    """Undo this revision."""
    # kinds longer than the old column are cut, not lost with their station
    op.execute("UPDATE station SET kind = left(kind, 32) WHERE length(kind) > 32")
    op.alter_column('station', 'kind', type_=sa.String(length=32), existing_type=sa.String(length=64),
                    existing_nullable=False)
