"""request loop: colour, deadline, version and outcome on each request; the append-only step log;
the departments summoned by a whistle (吹哨)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATUSES = ",".join(f"'{s}'" for s in ("collected", "discovered", "analysed", "dispatched", "handling",
                                         "coordinating", "supervised", "fed_back", "evaluated", "rejected"))


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('request_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('request_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'seq', name='request_event_seq')
    )
    op.create_table('request_whistle',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('request_id', sa.BigInteger(), nullable=False),
    sa.Column('department', sa.Text(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('raised_by', sa.Text(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'department', name='request_whistle_department')
    )
    op.add_column('request', sa.Column('address', sa.Text(), nullable=True))
    op.add_column('request', sa.Column('source', sa.String(length=16), server_default='api', nullable=False))
    op.add_column('request', sa.Column('colour', sa.String(length=8), server_default='blue', nullable=False))
    op.add_column('request', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('request', sa.Column('version', sa.Integer(), server_default='1', nullable=False))
    op.add_column('request', sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('request', sa.Column('department', sa.Text(), nullable=True))
    op.add_column('request', sa.Column('assignees', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.add_column('request', sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('request', sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('request', sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('request', sa.Column('result', sa.Text(), nullable=True))
    op.add_column('request', sa.Column('satisfaction', sa.SmallInteger(), nullable=True))
    op.add_column('request', sa.Column('feedback', sa.Text(), nullable=True))
    op.create_index('request_open_due', 'request', ['due_at'], unique=False, postgresql_where=sa.text("status IN ('collected','discovered','analysed','dispatched','handling','coordinating','supervised')"))
    op.create_index('request_time', 'request', ['created_at'], unique=False)
    # requests written before the loop existed were finished ones
    op.execute("UPDATE request SET status = 'evaluated' WHERE status NOT IN (" + STATUSES + ")")
    op.create_check_constraint('request_status', 'request', "status IN (" + STATUSES + ")")
    op.create_check_constraint('request_colour', 'request', "colour IN ('red','orange','yellow','blue')")
    op.create_check_constraint('request_satisfaction', 'request', "satisfaction BETWEEN 1 AND 5")
    # the step log is append-only: rows may be added, never changed or removed (TRUNCATE stays possible
    # for whole-database resets such as reloading the demo city)
    op.execute("""
        CREATE FUNCTION request_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'request_event is append-only: % refused', TG_OP;
        END $$;
        CREATE TRIGGER request_event_append_only BEFORE UPDATE OR DELETE ON request_event
            FOR EACH ROW EXECUTE FUNCTION request_event_append_only();
    """)


def downgrade() -> None:
    """Undo this revision."""
    op.execute("DROP TRIGGER request_event_append_only ON request_event")
    op.execute("DROP FUNCTION request_event_append_only()")
    op.drop_constraint('request_satisfaction', 'request')
    op.drop_constraint('request_colour', 'request')
    op.drop_constraint('request_status', 'request')
    op.drop_index('request_time', table_name='request')
    op.drop_index('request_open_due', table_name='request', postgresql_where=sa.text("status IN ('collected','discovered','analysed','dispatched','handling','coordinating','supervised')"))
    op.drop_column('request', 'feedback')
    op.drop_column('request', 'satisfaction')
    op.drop_column('request', 'result')
    op.drop_column('request', 'closed_at')
    op.drop_column('request', 'finished_at')
    op.drop_column('request', 'escalated_at')
    op.drop_column('request', 'assignees')
    op.drop_column('request', 'department')
    op.drop_column('request', 'updated_at')
    op.drop_column('request', 'version')
    op.drop_column('request', 'due_at')
    op.drop_column('request', 'colour')
    op.drop_column('request', 'source')
    op.drop_column('request', 'address')
    op.drop_table('request_whistle')
    op.drop_table('request_event')
