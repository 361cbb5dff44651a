"""Alembic environment: runs migrations online against the URL set by gis.store.db.migrate."""
from alembic import context
from sqlalchemy import create_engine, pool

from gis.store.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Compare only our own tables (not PostGIS's) with the models."""
    # PostGIS's own tables (spatial_ref_sys, topology) are not ours.
    return not (type_ == "table" and reflected and compare_to is None)


def run() -> None:
    """Run the migrations online, on a connection of their own."""
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, include_object=include_object)
        with context.begin_transaction():
            # one migrating process at a time (a server's workers and the command line may start
            # together); the others wait here, then find the schema already at head
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7261736701)")
            context.run_migrations()


run()
