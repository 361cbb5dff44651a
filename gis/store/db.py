"""Database access: which URL, engines and sessions, and applying the migrations.

No connection is made at import time; callers ask for an engine with the settings they hold.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
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


def make_engine(url: str, settings: Settings | None = None, **kw) -> Engine:
    """An engine that fails fast when the database is away: each checkout pings (a dead connection is
    replaced, not handed out), connecting gives up after `db_connect_timeout_s`, waiting for a pooled
    connection after `db_pool_timeout_s`; the errors become 503 answers (api/unavailable.py)."""
    settings = settings or get_settings()
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_size", 5)
    kw.setdefault("max_overflow", 10)
    kw.setdefault("pool_timeout", settings.db_pool_timeout_s)
    kw.setdefault("connect_args", {"connect_timeout": settings.db_connect_timeout_s})
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
def _engine_for(url: str, connect_timeout_s: int, pool_timeout_s: float) -> Engine:
    migrate(url)
    return make_engine(url, pool_timeout=pool_timeout_s, connect_args={"connect_timeout": connect_timeout_s})


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (one per URL and timeouts), migrated on first use."""
    settings = settings or get_settings()
    return _engine_for(resolve_url(settings), settings.db_connect_timeout_s, settings.db_pool_timeout_s)


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
    """True when the database answers a trivial query through this engine's pool."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1


def libpq_url(engine_or_url) -> str:
    """The engine's URL as plain libpq takes it (psycopg.connect), password included."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# libpq failures that mean "the server is not there (yet)", not "this query is wrong"
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def is_unavailable(exc: BaseException) -> bool:
    """Does this exception mean the database cannot be reached right now (refused, gone, starting up,
    shutting down, out of connections, pool exhausted)? Query errors (bad SQL, constraints) are not."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith("08") or state in UNAVAILABLE_SQLSTATES
    return False
