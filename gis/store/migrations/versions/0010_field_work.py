"""field work: visits and patrols of the people in the grid, pledges, the flag table and the flags earned,
and the log of every staff read of personal data (PIPL)

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# What earns flags (积旗制), as data like the colour table: (code, name, kind, min_satisfaction, flags, active).
# kind: finished = a finished order the person handled; on_time = finished by its deadline; satisfied = rated
# at least min_satisfaction; found = a problem the person found on a visit, finished.
FLAG_RULES = (
    ("finished", "完成接单", "finished", None, 1, True),
    ("on_time", "按时办结", "on_time", None, 1, True),
    ("satisfied", "群众满意", "satisfied", 5, 1, False),
    ("found", "走访发现", "found", None, 1, True),
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'visit',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('person.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(16), server_default='visit', nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('geom', Geometry('POINT', srid=4326, spatial_index=False), nullable=False),
        sa.Column('generation_id', sa.Integer(), sa.ForeignKey('generation.id'), nullable=True),
        sa.Column('area_id', sa.BigInteger(), sa.ForeignKey('area.id'), nullable=True),
        sa.Column('grid_code', sa.String(32), nullable=True),
        sa.Column('outside_grid', sa.Boolean(), nullable=False),
        sa.Column('unit_area_ids', postgresql.ARRAY(sa.BigInteger()), server_default=sa.text("'{}'"),
                  nullable=False),
        sa.Column('households', sa.Integer(), nullable=True),
        sa.Column('found', sa.Text(), nullable=True),
        sa.Column('request_id', sa.BigInteger(), sa.ForeignKey('request.id', ondelete='SET NULL'), nullable=True),
        sa.Column('idempotency_key', sa.String(64), nullable=True, unique=True),
        sa.Column('source', sa.String(16), server_default='api', nullable=False),
        sa.CheckConstraint("kind IN ('visit','patrol','check')", name='visit_kind'),
        sa.CheckConstraint('households IS NULL OR households >= 0', name='visit_households'),
    )
    op.create_index('visit_area_at', 'visit', ['area_id', 'at'])
    op.create_index('visit_person_at', 'visit', ['person_id', 'at'])
    op.create_index('visit_at', 'visit', ['at'])
    op.create_index('visit_units', 'visit', ['unit_area_ids'], postgresql_using='gin')
    op.create_index('visit_request', 'visit', ['request_id'])

    op.create_table(
        'pledge',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('person.id', ondelete='CASCADE'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(8), server_default='made', nullable=False),
        sa.Column('made_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('made','kept','broken')", name='pledge_state'),
        sa.CheckConstraint("(state = 'made') = (settled_at IS NULL)", name='pledge_settled'),
    )
    op.create_index('pledge_person', 'pledge', ['person_id'])

    op.create_table(
        'flag_rule',
        sa.Column('code', sa.String(32), primary_key=True),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('min_satisfaction', sa.SmallInteger(), nullable=True),
        sa.Column('flags', sa.SmallInteger(), server_default='1', nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.CheckConstraint("kind IN ('finished','on_time','satisfied','found')", name='flag_rule_kind'),
        sa.CheckConstraint('flags BETWEEN 0 AND 100', name='flag_rule_flags'),
        sa.CheckConstraint("(kind = 'satisfied') = (min_satisfaction IS NOT NULL)", name='flag_rule_satisfaction'),
    )
    op.bulk_insert(sa.table('flag_rule', sa.column('code'), sa.column('name'), sa.column('kind'),
                            sa.column('min_satisfaction'), sa.column('flags'), sa.column('active')),
                   [dict(zip(('code', 'name', 'kind', 'min_satisfaction', 'flags', 'active'), r)) for r in FLAG_RULES])

    op.create_table(
        'flag',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('person_id', sa.Integer(), sa.ForeignKey('person.id', ondelete='CASCADE'), nullable=False),
        sa.Column('request_id', sa.BigInteger(), sa.ForeignKey('request.id', ondelete='CASCADE'), nullable=False),
        sa.Column('rule_code', sa.String(32), sa.ForeignKey('flag_rule.code', onupdate='CASCADE'), nullable=False),
        sa.Column('flags', sa.SmallInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('person_id', 'request_id', 'rule_code', name='flag_once'),
    )
    op.create_index('flag_at', 'flag', ['at'])
    op.create_index('flag_person_at', 'flag', ['person_id', 'at'])

    op.create_table(
        'pii_access_log',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.Column('purpose', sa.Text(), nullable=False),
        sa.Column('subjects', sa.Integer(), server_default='0', nullable=False),
    )
    op.create_index('pii_access_log_at', 'pii_access_log', ['at'])


def downgrade() -> None:
    """Undo this revision (the field work on record is lost)."""
    op.drop_table('pii_access_log')
    op.drop_table('flag')
    op.drop_table('flag_rule')
    op.drop_table('pledge')
    op.drop_table('visit')
