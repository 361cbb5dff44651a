"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('address',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('components', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('building_code', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=16), server_default='import', nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint('households >= 0', name='address_households'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('address_geom_gist', 'address', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.CheckConstraint("role IN ('consumer','command','planner','admin')", name='api_key_role'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('area',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('district','street','community','grid','unit')", name='area_level'),
    sa.CheckConstraint('ST_IsValid(geom) AND NOT ST_IsEmpty(geom)', name='area_geom_valid'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('area_geom_gist', 'area', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('area_level_code', 'area', ['level', 'code'], unique=False)
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('based_on', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), server_default='committed', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("state IN ('draft', 'committed')", name='generation_state'),
    sa.ForeignKeyConstraint(['based_on'], ['generation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('network_edge',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('network_edge_geom_gist', 'network_edge', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('properties', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('station_geom_gist', 'station', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('active_generation',
    sa.Column('id', sa.SmallInteger(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name='active_generation_single'),
    sa.ForeignKeyConstraint(['generation_id'], ['generation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('generation_area',
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('parent_level', sa.String(length=16), nullable=True),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.CheckConstraint("(level = 'district') = (parent_code IS NULL)", name='generation_area_parent_needed'),
    sa.ForeignKeyConstraint(['area_id'], ['area.id'], ),
    sa.ForeignKeyConstraint(['generation_id', 'parent_level', 'parent_code'], ['generation_area.generation_id', 'generation_area.level', 'generation_area.code'], name='generation_area_parent', ondelete='CASCADE', initially='DEFERRED', deferrable=True),
    sa.ForeignKeyConstraint(['generation_id'], ['generation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('generation_id', 'area_id'),
    sa.UniqueConstraint('generation_id', 'level', 'code', name='generation_area_code')
    )
    op.create_index('generation_area_gen_level', 'generation_area', ['generation_id', 'level'], unique=False)
    op.create_table('request',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('matter_class', sa.String(length=16), nullable=False),
    sa.Column('importance', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('urgency', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), server_default='collected', nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=True),
    sa.Column('grid_code', sa.String(length=32), nullable=True),
    sa.Column('unit_code', sa.String(length=32), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("matter_class IN ('public','shared','private')", name='request_matter_class'),
    sa.ForeignKeyConstraint(['generation_id'], ['generation.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('request_grid_time', 'request', ['grid_code', 'created_at'], unique=False)
    op.create_table('staff_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=32), nullable=False),
    sa.CheckConstraint("role IN ('grid_worker','grid_leader','unit_leader','community_secretary','holding_department')", name='staff_role'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('staff_assignment_area', 'staff_assignment', ['level', 'area_code'], unique=False)


    # Every worker LISTENs on this channel and rebuilds its locate index when the active generation moves.
    op.execute("""
        CREATE FUNCTION wangge_notify_generation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('wangge_generation', NEW.generation_id::text);
            RETURN NEW;
        END $$;
        CREATE TRIGGER active_generation_notify AFTER INSERT OR UPDATE ON active_generation
            FOR EACH ROW EXECUTE FUNCTION wangge_notify_generation();
    """)


def downgrade() -> None:
    """Undo this revision."""
    op.execute("DROP TRIGGER IF EXISTS active_generation_notify ON active_generation")
    op.execute("DROP FUNCTION IF EXISTS wangge_notify_generation()")
    op.drop_index('staff_assignment_area', table_name='staff_assignment')
    op.drop_table('staff_assignment')
    op.drop_index('request_grid_time', table_name='request')
    op.drop_table('request')
    op.drop_index('generation_area_gen_level', table_name='generation_area')
    op.drop_table('generation_area')
    op.drop_table('active_generation')
    op.drop_index('station_geom_gist', table_name='station', postgresql_using='gist')
    op.drop_table('station')
    op.drop_table('staff')
    op.drop_index('network_edge_geom_gist', table_name='network_edge', postgresql_using='gist')
    op.drop_table('network_edge')
    op.drop_table('generation')
    op.drop_table('audit_log')
    op.drop_index('area_level_code', table_name='area')
    op.drop_index('area_geom_gist', table_name='area', postgresql_using='gist')
    op.drop_table('area')
    op.drop_table('api_key')
    op.drop_index('address_geom_gist', table_name='address', postgresql_using='gist')
    op.drop_table('address')

