"""Test fixtures: a real PostGIS database (the embedded cluster, or WANGGE_DATABASE_URL's server),
created fresh for the session and dropped afterwards. A session that had to start the embedded cluster
stops it at its end; one that found it running leaves it running."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gis.store import db as gdb
from gis.store import embedded
from gis.settings import Settings

DATA_TABLES = ("poi", "service_circle", "redraw", "generation_activation", "request_event", "request_whistle", "request", "assignment", "person", "crosswalk", "estate", "station", "address", "network_edge", "audit_log",
               "api_key", "active_generation", "generation_area", "area", "generation")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a fresh, migrated test database; dropped at the end of the session."""
    settings = Settings()
    started_here = not settings.database_url and not embedded.is_running(embedded.layout(settings.home_abs))
    try:
        base = make_url(gdb.resolve_url(settings))
        name = f"wangge_test_{uuid.uuid4().hex[:8]}"
        admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        gdb.migrate(url)
        yield url
        gdb._engine_for.cache_clear()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if started_here:
            embedded.down(settings.home_abs)


@pytest.fixture(scope="session")
def engine(pg_url):
    eng = gdb.make_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine):
    """An empty database for one test."""
    wipe(engine)
    return engine


def wipe(engine) -> None:
    """Every data table emptied (the schema stays), and the city's settings tables back to the schema's
    seed: one grid tier, the builtin roles only."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM grid_tier WHERE tier > 1"))
        conn.execute(text("UPDATE grid_tier SET name = '网格', digits = 3, nests = false WHERE tier = 1"))
        conn.execute(text("DELETE FROM role WHERE NOT builtin"))


def fresh_demo(engine, scale: str = "small") -> dict:
    """An empty database with the demo city (seed 0) loaded; the loader's report (keys, counts)."""
    from data.load_demo import load_demo

    wipe(engine)
    return load_demo(engine, scale, seed=0)


@pytest.fixture
def settings(pg_url, tmp_path) -> Settings:
    return Settings(database_url=pg_url, home=tmp_path / "home")


@pytest.fixture
def env(pg_url, monkeypatch):
    """Point the command line and the app at the test database."""
    monkeypatch.setenv("WANGGE_DATABASE_URL", pg_url)
    from gis.settings import get_settings
    get_settings.cache_clear()
    yield pg_url
    get_settings.cache_clear()


def assign(session, name: str, phone: str | None, role: str, level: str, code: str) -> int:
    """A person assigned to the area bearing `code` at `level` in the active generation (by its id);
    returns the person's id."""
    pid = session.execute(text("INSERT INTO person (name, phone) VALUES (:n, :p) RETURNING id"),
                          {"n": name, "p": phone}).scalar()
    session.execute(text("""
        INSERT INTO assignment (person_id, role, level, area_id, area_code)
        SELECT :pid, :r, ga.level, ga.area_id, ga.code FROM generation_area ga JOIN active_generation ag
          ON ag.generation_id = ga.generation_id WHERE ga.level = :l AND ga.code = :c"""),
                    {"pid": pid, "r": role, "l": level, "c": code})
    return pid

