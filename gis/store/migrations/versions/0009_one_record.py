"""one record: stable area identities (rows reused by ground), grid tiers, open roles, people assigned
to areas by id, requests that keep the areas they were located in, the code crosswalk, estates

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# The roles every city starts with (code, Chinese name, roams: a role that walks the whole area).
BUILTIN_ROLES = (
    ("grid_worker", "网格员", False), ("grid_leader", "网格长", False), ("unit_leader", "联户长", False),
    ("building_leader", "楼栋长", False), ("estate_grid_leader", "小区网格长", False),
    ("holding_department", "包保单位", False), ("community_secretary", "社区书记", False),
    ("department_contact", "部门网格联络员", False), ("volunteer", "志愿者", False), ("mediator", "调解员", False),
    ("reporting_official", "报到党员", False), ("mobile_probe", "流动探头", True),
)


def upgrade() -> None:
    """Apply this revision."""
    # -- identity: an area row is reused while its ground, name and households stay the same
    op.add_column('area', sa.Column('ground', sa.CHAR(32), nullable=True))
    op.execute("UPDATE area SET ground = md5(ST_AsBinary(ST_Normalize(geom)))")
    op.create_index('area_level_ground', 'area', ['level', 'ground'])

    # -- grid tiers
    op.create_table(
        'grid_tier',
        sa.Column('tier', sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('digits', sa.SmallInteger(), nullable=False),
        sa.Column('nests', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.CheckConstraint('tier BETWEEN 1 AND 9', name='grid_tier_range'),
        sa.CheckConstraint('digits BETWEEN 1 AND 6', name='grid_tier_digits'),
    )
    op.execute("INSERT INTO grid_tier (tier, name, digits, nests) VALUES (1, '网格', 3, false)")
    op.add_column('generation_area', sa.Column('tier', sa.SmallInteger(), nullable=True))
    op.execute("UPDATE generation_area SET tier = 1 WHERE level = 'grid'")
    op.create_check_constraint('generation_area_tier', 'generation_area', "(level = 'grid') = (tier IS NOT NULL)")
    op.create_check_constraint(
        'generation_area_grid_parent', 'generation_area',
        "level <> 'grid' OR (tier = 1 AND parent_level = 'community') OR (tier > 1 AND parent_level = 'grid')")

    # -- open roles; people (was staff) and their assignments to areas by id (was by code)
    op.create_table(
        'role',
        sa.Column('code', sa.String(32), primary_key=True),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('roams', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('builtin', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,31}$'", name='role_code'),
    )
    op.bulk_insert(sa.table('role', sa.column('code'), sa.column('name'), sa.column('roams'), sa.column('builtin')),
                   [{"code": c, "name": n, "roams": r, "builtin": True} for c, n, r in BUILTIN_ROLES])
    op.rename_table('staff', 'person')
    op.execute("ALTER SEQUENCE staff_id_seq RENAME TO person_id_seq")
    op.execute("ALTER INDEX staff_pkey RENAME TO person_pkey")
    op.add_column('person', sa.Column('organisation', sa.Text(), nullable=True))
    op.add_column('person', sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()),
                                      server_default=sa.text("'{}'::jsonb"), nullable=False))
    op.rename_table('staff_assignment', 'assignment')
    op.execute("ALTER SEQUENCE staff_assignment_id_seq RENAME TO assignment_id_seq")
    op.execute("ALTER INDEX staff_assignment_pkey RENAME TO assignment_pkey")
    op.alter_column('assignment', 'staff_id', new_column_name='person_id')
    op.drop_constraint('staff_role', 'assignment', type_='check')
    op.execute("ALTER TABLE assignment RENAME CONSTRAINT staff_assignment_staff_id_fkey TO assignment_person_id_fkey")
    op.execute("INSERT INTO role (code, name) SELECT DISTINCT role, role FROM assignment "
               "WHERE role NOT IN (SELECT code FROM role)")
    op.create_foreign_key('assignment_role', 'assignment', 'role', ['role'], ['code'], onupdate='CASCADE')
    op.add_column('assignment', sa.Column('area_id', sa.BigInteger(), nullable=True))
    op.add_column('assignment', sa.Column('since', sa.DateTime(timezone=True), server_default=sa.func.now(),
                                          nullable=False))
    # an assignment made by code names the area that bore the code in the active generation
    op.execute("""
        UPDATE assignment s SET area_id = ga.area_id FROM generation_area ga, active_generation ag
        WHERE ga.generation_id = ag.generation_id AND ga.level = s.level AND ga.code = s.area_code""")
    op.execute("DELETE FROM assignment WHERE area_id IS NULL")  # pointed at no area: nobody could find them
    op.alter_column('assignment', 'area_id', nullable=False)
    op.create_foreign_key('assignment_area', 'assignment', 'area', ['area_id'], ['id'])
    op.drop_index('staff_assignment_area', table_name='assignment')
    op.create_index('assignment_area', 'assignment', ['area_id'])
    op.create_index('assignment_person', 'assignment', ['person_id'])

    # -- requests keep the areas they were located in (codes stay as shown)
    op.add_column('request', sa.Column('grid_area_id', sa.BigInteger(), sa.ForeignKey('area.id'), nullable=True))
    op.add_column('request', sa.Column('unit_area_id', sa.BigInteger(), sa.ForeignKey('area.id'), nullable=True))
    for lvl in ('grid', 'unit'):
        op.execute(f"""
            UPDATE request r SET {lvl}_area_id = ga.area_id FROM generation_area ga
            WHERE ga.generation_id = r.generation_id AND ga.level = '{lvl}' AND ga.code = r.{lvl}_code""")
    op.create_index('request_grid_area_time', 'request', ['grid_area_id', 'created_at'])

    # -- the crosswalk: what each code or area became (re-codings, redraws, merges, imports)
    op.create_table(
        'crosswalk',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('generation_id', sa.Integer(), sa.ForeignKey('generation.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('level', sa.String(16), nullable=False),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('from_code', sa.String(64), nullable=False),
        sa.Column('from_area_id', sa.BigInteger(), sa.ForeignKey('area.id'), nullable=True),
        sa.Column('to_code', sa.String(32), nullable=False),
        sa.Column('to_area_id', sa.BigInteger(), sa.ForeignKey('area.id'), nullable=True),
        sa.Column('share', sa.Float(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('recode','redraw','merge','import')", name='crosswalk_kind'),
        sa.CheckConstraint('share IS NULL OR share BETWEEN 0 AND 1', name='crosswalk_share'),
    )
    op.create_index('crosswalk_from', 'crosswalk', ['from_code'])
    op.create_index('crosswalk_to', 'crosswalk', ['to_code'])
    op.create_index('crosswalk_generation', 'crosswalk', ['generation_id'])

    # -- estates (小区): not part of the hierarchy; the automatic redraw keeps each whole
    op.create_table(
        'estate',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('code', sa.String(32), nullable=False, unique=True),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('households', sa.Integer(), server_default='0', nullable=False),
        sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column('geom', Geometry('MULTIPOLYGON', srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name='estate_geom_valid'),
        sa.CheckConstraint('households >= 0', name='estate_households'),
    )
    op.create_index('estate_geom_gist', 'estate', ['geom'], postgresql_using='gist')


def downgrade() -> None:
    """Undo this revision (roles beyond the first five and the crosswalk are lost)."""
    op.drop_table('estate')
    op.drop_table('crosswalk')
    op.drop_index('request_grid_area_time', table_name='request')
    op.drop_column('request', 'unit_area_id')
    op.drop_column('request', 'grid_area_id')
    op.drop_index('assignment_person', table_name='assignment')
    op.drop_index('assignment_area', table_name='assignment')
    op.drop_constraint('assignment_area', 'assignment', type_='foreignkey')
    op.drop_column('assignment', 'since')
    op.drop_column('assignment', 'area_id')
    op.drop_constraint('assignment_role', 'assignment', type_='foreignkey')
    op.execute("DELETE FROM assignment WHERE role NOT IN "
               "('grid_worker','grid_leader','unit_leader','community_secretary','holding_department')")
    op.create_check_constraint(
        'staff_role', 'assignment',
        "role IN ('grid_worker','grid_leader','unit_leader','community_secretary','holding_department')")
    op.create_index('staff_assignment_area', 'assignment', ['level', 'area_code'])
    op.alter_column('assignment', 'person_id', new_column_name='staff_id')
    op.execute("ALTER TABLE assignment RENAME CONSTRAINT assignment_person_id_fkey TO staff_assignment_staff_id_fkey")
    op.execute("ALTER INDEX assignment_pkey RENAME TO staff_assignment_pkey")
    op.execute("ALTER SEQUENCE assignment_id_seq RENAME TO staff_assignment_id_seq")
    op.rename_table('assignment', 'staff_assignment')
    op.drop_column('person', 'properties')
    op.drop_column('person', 'organisation')
    op.execute("ALTER INDEX person_pkey RENAME TO staff_pkey")
    op.execute("ALTER SEQUENCE person_id_seq RENAME TO staff_id_seq")
    op.rename_table('person', 'staff')
    op.drop_table('role')
    op.drop_constraint('generation_area_grid_parent', 'generation_area', type_='check')
    op.drop_constraint('generation_area_tier', 'generation_area', type_='check')
    op.drop_column('generation_area', 'tier')
    op.drop_table('grid_tier')
    op.drop_index('area_level_ground', table_name='area')
    op.drop_column('area', 'ground')
