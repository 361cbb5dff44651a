"""Alembic environment: runs migrations online against the URL set by gis.db.migrate."""
from alembic import context
from sqlalchemy import create_engine, pool

from gis.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # PostGIS's own tables (spatial_ref_sys, topology) are not ours.
    return not (type_ == "table" and reflected and compare_to is None)


def run() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()


run()
