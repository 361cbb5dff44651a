"""Faults on the real embedded cluster: the database killed (SIGKILL) in the middle of a stream of new
requests, and multi-write changes (a redraw commit, an import) made to fail half-way.

The kill test runs its own cluster in a temporary WANGGE_HOME and its own `wangge serve` on 127.0.0.1,
so killing that database touches no other test. Every wait is bounded; every process started is stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gis.store import db as gdb
from gis.store import embedded
from gis.store.db import session_scope

ROOT = Path(__file__).resolve().parents[2]
BODY = {"category": "环境卫生", "text": "楼道垃圾堆放", "lon": 116.876, "lat": 36.618}
CLIENT_TIMEOUT_S = 30.0  # a hang fails the test as a timeout (the server gives up after 3-5 s; the slack is
                         # for a loaded test machine, not for the server)


def _wait(cond, seconds: float, what: str, every: float = 0.2):
    """Poll `cond` until it returns something truthy, failing with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (the postmaster's backends and helpers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli_env(**kw) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_DATABASE_URL"}
    env.update(PYTHONPATH=str(ROOT), WANGGE_ESCALATION_INTERVAL_S="0", **kw)
    return env


# -- the database killed under a stream of writes -------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A dedicated embedded cluster with the small demo city, and `wangge serve` on it: (base url, home,
    database url, keys, server process)."""
    from data.load_demo import load_demo

    home = tmp_path_factory.mktemp("faults") / "home"
    url = embedded.up(home)
    lay = embedded.layout(home)
    server = None
    engine = None
    try:
        gdb.migrate(url)
        engine = gdb.make_engine(url)
        report = load_demo(engine, "small", seed=0)
        engine.dispose()
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT,
                                  env=_cli_env(WANGGE_HOME=str(home), WANGGE_DATABASE_URL=url),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"

        def ready():
            if server.poll() is not None:
                raise AssertionError(f"wangge serve exited: {server.stderr.read()[-2000:]}")
            try:
                return httpx.get(base + "/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, 300, "wangge serve to answer /health")
        yield base, home, url, report["keys"], server
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        if engine is not None:
            engine.dispose()
        embedded.down(home)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.socket_dir, ignore_errors=True)


class Stream:
    """Threads posting new requests one after another until stopped; every answer kept in order."""

    def __init__(self, base: str, key: str, threads: int = 3):
        self.base, self.key = base, key
        self.answers: list[tuple[float, int | str, dict, dict]] = []  # (time, status|error, body, headers)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        with httpx.Client(base_url=self.base, timeout=CLIENT_TIMEOUT_S, headers={"X-API-Key": self.key}) as c:
            while not self.stop.is_set():
                try:
                    r = c.post("/v1/requests", json=BODY)
                    answer = (time.monotonic(), r.status_code, r.json(), dict(r.headers))
                except (httpx.HTTPError, ValueError) as exc:
                    answer = (time.monotonic(), type(exc).__name__, {}, {})
                with self.lock:
                    self.answers.append(answer)
                if answer[1] == 503:
                    time.sleep(0.1)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT_S + 5)

    def count(self, status, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for t, s, _, _ in self.answers if s == status and t >= since)


def test_killed_database_loses_no_acknowledged_request_and_the_same_server_recovers(served):
    base, home, url, keys, server = served
    lay = embedded.layout(home)
    with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT_S) as c, Stream(base, keys["admin"]) as stream:
        _wait(lambda: stream.count(201) >= 30, 120, "30 acknowledged requests before the kill")
        # the consumer key enters the key cache just before the outage
        assert c.get("/v1/locate", params={"lon": 116.876, "lat": 36.618},
                     headers={"X-API-Key": keys["consumer"]}).status_code == 200
        postmaster = int((lay.data / "postmaster.pid").read_text().split()[0])
        children = _children(postmaster)
        os.kill(postmaster, signal.SIGKILL)
        killed_at = time.monotonic()
        # a cached key still locates, from memory (asked at once: the key cache keeps a key for 30 s)
        loc = c.get("/v1/locate", params={"lon": 116.876, "lat": 36.618}, headers={"X-API-Key": keys["consumer"]})
        assert loc.status_code == 200, loc.text
        assert loc.json()["grid"]["code"]
        _wait(lambda: stream.count(503, killed_at) >= 5, 120, "503 answers while the database is down")

        # /health answers from a probe at most 1 s old: 503 within seconds of the outage, not at once
        _wait(lambda: c.get("/health").status_code == 503, 10, "/health to answer 503")
        health = c.get("/health")
        assert health.status_code == 503 and health.headers["retry-after"]
        assert health.json()["database"] == "unavailable"
        # a key the server has not seen cannot be checked now: 503, not 401
        unknown = c.get("/v1/locate", params={"lon": 116.876, "lat": 36.618},
                        headers={"X-API-Key": "wg_" + uuid.uuid4().hex})
        assert unknown.status_code == 503, unknown.text

        _wait(lambda: not any(_alive(p) for p in children), 60, "the killed cluster's processes to exit")
        up = subprocess.run([sys.executable, "-m", "api.cli", "db", "up", "--json"], cwd=ROOT,
                            env=_cli_env(WANGGE_HOME=str(home)), capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        restarted_at = time.monotonic()
        _wait(lambda: stream.count(201, restarted_at) >= 10, 120, "201 answers again after `wangge db up`")
    assert server.poll() is None  # the same server process, never restarted
    assert httpx.get(base + "/health", timeout=CLIENT_TIMEOUT_S).status_code == 200

    statuses = [s for _, s, _, _ in stream.answers]
    odd = [(s, b) for _, s, b, _ in stream.answers if s not in (201, 503)]
    assert not odd, f"{len(odd)} answers neither 201 nor 503 of {len(statuses)}: {odd[:5]}"  # no 500, no hang
    for _, s, body, headers in stream.answers:
        if s == 503:
            assert headers.get("retry-after") and body["errors"][0]["field"] == "database"
            assert body["detail"] == "the database is unavailable; try again shortly"
    acked = [body["id"] for _, s, body, _ in stream.answers if s == 201]
    assert len(acked) == len(set(acked))
    with psycopg.connect(gdb.libpq_url(url)) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM request WHERE id = ANY(%s)", (acked,))}
    assert stored == set(acked), f"acknowledged but lost: {sorted(set(acked) - stored)[:10]}"


# -- a multi-write change that fails half-way leaves nothing changed ------------------------------------
FAULT_FN = "wangge_test_fault"


def _inject(engine, table: str, action: str) -> None:
    """A trigger that, on the first write to `table`, raises (action 'raise') or kills its own backend
    (action 'terminate') inside the transaction that is writing."""
    body = ("RAISE EXCEPTION 'injected fault at %', TG_TABLE_NAME;" if action == "raise" else
            "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5);")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE OR REPLACE FUNCTION {FAULT_FN}() RETURNS trigger LANGUAGE plpgsql AS "
                          f"$$ BEGIN {body} RETURN NULL; END $$"))
        conn.execute(text(f"CREATE TRIGGER {FAULT_FN} BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                          f"FOR EACH STATEMENT EXECUTE FUNCTION {FAULT_FN}()"))


def _clear(engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TRIGGER IF EXISTS {FAULT_FN} ON {table}"))
        conn.execute(text(f"DROP FUNCTION IF EXISTS {FAULT_FN}()"))


def _snapshot(engine) -> dict:
    """Everything a redraw commit or an import may write, as comparable values."""
    queries = {
        "active": "SELECT generation_id FROM active_generation",
        "generations": "SELECT id, state FROM generation ORDER BY id",
        "activations": "SELECT count(*) FROM generation_activation",
        "active_areas": """SELECT ga.level, ga.code, ga.parent_code, ga.area_id FROM generation_area ga
                           WHERE ga.generation_id = (SELECT generation_id FROM active_generation)
                           ORDER BY ga.level, ga.code""",
        "area_rows": "SELECT count(*) FROM area",
        "staff": "SELECT person_id, level, area_id, area_code FROM assignment ORDER BY 1, 2, 3",
        "requests": "SELECT id, version, status FROM request ORDER BY id",
        "request_rows": "SELECT * FROM request ORDER BY id",
        "events": "SELECT count(*) FROM request_event",
        "redraws": "SELECT id, status FROM redraw ORDER BY id",
        "audit": "SELECT count(*) FROM audit_log",
    }
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(text(q)).all()] for k, q in queries.items()}


@pytest.fixture(scope="module")
def redraw_ready(engine, pg_url):
    """The small demo with a valid automatic redraw of the first community drawn (not committed) and an
    open request in a grid that the redraw removes: (engine, redraw id, draft generation)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from gis import keys
    from gis.settings import Settings
    from tests.conftest import fresh_demo

    demo_keys = fresh_demo(engine)["keys"]
    settings = Settings(database_url=pg_url, grid_households_min=100, grid_households_max=1000)
    with engine.connect() as conn:
        comm = conn.execute(text("""SELECT code FROM generation_area WHERE level = 'community'
            AND generation_id = (SELECT generation_id FROM active_generation) ORDER BY code LIMIT 1""")).scalar()
    with session_scope(engine) as s:
        planner = keys.create(s, "planner")
    with TestClient(create_app(settings.model_copy(update={"escalation_interval_s": 0}))) as c:
        c.headers["X-API-Key"] = planner
        body = c.post("/v1/redraws/auto", json={"parent": comm, "k": 3}).json()
        assert body["valid"], body["findings"]
        with engine.connect() as conn:
            old = conn.execute(text("""SELECT ga.code, ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom))
                FROM generation_area ga JOIN area a ON a.id = ga.area_id WHERE ga.level = 'grid'
                AND ga.parent_code = :c AND ga.generation_id = (SELECT generation_id FROM active_generation)
                AND ga.code NOT IN (SELECT code FROM generation_area WHERE generation_id = :d AND level = 'grid')
                ORDER BY ga.code""").bindparams(c=comm, d=body["draft_generation"])).first()
        assert old is not None  # the redraw removes a grid
        r = c.post("/v1/requests", json={"category": "环境卫生", "lon": old[1], "lat": old[2]},
                   headers={"X-API-Key": demo_keys["admin"]})
        assert r.status_code == 201, r.text
    return engine, body["id"], body["draft_generation"]


@pytest.mark.parametrize("table,action", [
    ("active_generation", "raise"),   # the 2nd write: the draft already marked committed
    ("request_event", "raise"),       # after the staff were moved and while requests are relocated
    ("audit_log", "raise"),           # the last write: everything else done
    ("redraw", "terminate"),          # the backend killed under the commit (the connection dies)
])
def test_redraw_commit_failing_half_way_changes_nothing(redraw_ready, table, action):
    from gis.redraw import propose

    engine, redraw_id, draft = redraw_ready
    before = _snapshot(engine)
    _inject(engine, table, action)
    try:
        with pytest.raises(DBAPIError) as err:
            with session_scope(engine) as session:
                propose.commit(session, redraw_id, "fault-test")
    finally:
        _clear(engine, table)
    if action == "raise":
        assert f"injected fault at {table}" in str(err.value)
    else:
        assert gdb.is_unavailable(err.value)  # the connection died under the transaction
    assert _snapshot(engine) == before


def test_redraw_commit_after_the_faults_changes_everything(redraw_ready):
    """The control: without a fault the same commit does change what the faulty ones left alone."""
    from gis.redraw import propose

    engine, redraw_id, draft = redraw_ready
    before = _snapshot(engine)
    with session_scope(engine) as session:
        assert propose.commit(session, redraw_id, "fault-test") == draft
    after = _snapshot(engine)
    assert after["active"] == [(draft,)] != before["active"]
    for key in ("staff", "requests", "events", "redraws", "audit", "activations"):
        assert after[key] != before[key], key


# -- an import killed half-way --------------------------------------------------------------------------
LOCK_KEY = 734_211


def test_import_killed_half_way_leaves_the_active_map_whole(engine, pg_url, tmp_path):
    """`wangge import areas` is SIGKILLed while its transaction is inside the write (held at the
    activation by a trigger waiting on an advisory lock this test holds): nothing of it remains."""
    import geopandas as gpd
    import shapely
    from tests.conftest import fresh_demo

    fresh_demo(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("""SELECT ga.code, a.name, ST_AsBinary(a.geom) FROM generation_area ga
            JOIN area a ON a.id = ga.area_id WHERE ga.level = 'street'
            AND ga.generation_id = (SELECT generation_id FROM active_generation) ORDER BY ga.code""")).all()
    path = tmp_path / "streets.geojson"
    gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
                     geometry=shapely.from_wkb([bytes(r[2]) for r in rows]), crs=4326).to_file(path)
    before = _snapshot(engine)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE OR REPLACE FUNCTION {FAULT_FN}() RETURNS trigger LANGUAGE plpgsql AS "
                          f"$$ BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); RETURN NULL; END $$"))
        conn.execute(text(f"CREATE TRIGGER {FAULT_FN} BEFORE INSERT OR UPDATE ON active_generation "
                          f"FOR EACH STATEMENT EXECUTE FUNCTION {FAULT_FN}()"))
    holder = psycopg.connect(gdb.libpq_url(pg_url), autocommit=True)
    proc = None
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "import", "areas", str(path), "--level", "street",
                                 "--json"], cwd=ROOT, env=_cli_env(WANGGE_DATABASE_URL=pg_url),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def waiting_backend():
            if proc.poll() is not None:
                raise AssertionError(f"the import ended before the fault: {proc.stderr.read()[-2000:]}")
            row = holder.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                                 "AND NOT granted", (LOCK_KEY,)).fetchone()
            return row and row[0]

        backend = _wait(waiting_backend, 300, "the import to reach its activation")
        # mid-write: its new generation and areas exist inside its open transaction
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        _wait(lambda: holder.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                     (backend,)).fetchone()[0] == 0, 60, "the killed import's backend to end")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        holder.close()
        _clear(engine, "active_generation")
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(engine) == before
    # and the same import, not killed, does go through (the fault was what stopped it)
    done = subprocess.run([sys.executable, "-m", "api.cli", "import", "areas", str(path), "--level", "street",
                           "--json"], cwd=ROOT, env=_cli_env(WANGGE_DATABASE_URL=pg_url), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == len(rows)
    assert _snapshot(engine)["active"] != before["active"]


# -- what counts as "unavailable", and /health beside an exhausted pool ---------------------------------
def test_only_outages_count_as_unavailable(engine, tmp_path):
    """Refused connections and a killed backend are outages (503); wrong SQL, a broken constraint or a
    statement timeout are not (they keep their own answers)."""
    from sqlalchemy.exc import OperationalError

    dead = gdb.make_engine(f"postgresql+psycopg://nobody@/x?host={tmp_path}&port=5432")
    with pytest.raises(OperationalError) as refused:
        dead.connect()
    assert gdb.is_unavailable(refused.value)
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as wrong:
            conn.execute(text("SELECT no_such_column FROM audit_log"))
        assert not gdb.is_unavailable(wrong.value)
        conn.rollback()
        with pytest.raises(DBAPIError) as slow:
            conn.execute(text("SET LOCAL statement_timeout = 50"))
            conn.execute(text("SELECT pg_sleep(2)"))
        assert not gdb.is_unavailable(slow.value)
        conn.rollback()
        with pytest.raises(DBAPIError) as dup:
            conn.execute(text("CREATE TEMP TABLE u (i int PRIMARY KEY); INSERT INTO u VALUES (1), (1)"))
        assert not gdb.is_unavailable(dup.value)
        conn.rollback()
    with engine.connect() as victim, engine.connect() as killer:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar()
        killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(DBAPIError) as gone:
            victim.execute(text("SELECT 1"))
        assert gdb.is_unavailable(gone.value)


def test_health_does_not_queue_behind_an_exhausted_pool(engine, pg_url):
    """Every pooled connection of the app checked out and held: /health still answers 200 at once (it has
    its own connection), while a route that needs the pool answers 503 after the pool timeout, not 500."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from gis.settings import Settings
    from tests.conftest import fresh_demo

    key = fresh_demo(engine)["keys"]["admin"]
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0, db_pool_timeout_s=1.0))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = key
        assert c.get("/health").status_code == 200
        pool = app.state.engine
        held = [pool.connect() for _ in range(pool.pool.size() + pool.pool._max_overflow)]
        try:
            time.sleep(1.1)  # let the cached health answer expire, so the next call probes again
            health = c.get("/health")
            assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok"}
            busy = c.post("/v1/requests", json=BODY)
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] and busy.json()["errors"][0]["field"] == "database"
        finally:
            for conn in held:
                conn.close()
        assert c.post("/v1/requests", json=BODY).status_code == 201
