"""Database access: which URL, engines and sessions, and applying the migrations.

No connection is made at import time; callers ask for an engine with the settings they hold.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gis.store import embedded
from gis.settings import Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// URLs and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def resolve_url(settings: Settings | None = None) -> str:
    """WANGGE_DATABASE_URL when set, else the embedded cluster (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    return embedded.up(settings.home_abs)


def make_engine(url: str, **kw) -> Engine:
    """A SQLAlchemy engine for `url` with a small pool that checks connections before use."""
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 5)
    kw.setdefault("max_overflow", 10)
    return create_engine(url, **kw)


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (creates PostGIS first)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    migrate(url)
    return make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database, migrated on first use."""
    return _engine_for(resolve_url(settings))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    with sessionmaker(engine, expire_on_commit=False)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> bool:
    """Whether the database answers."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1
