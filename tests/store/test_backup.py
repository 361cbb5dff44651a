"""Backups: `wangge db backup` of a cluster with data, more writes, then `wangge db restore --to` a moment
in between into a fresh WANGGE_HOME holds exactly what existed at that moment; without --to, everything
archived. Each cluster here is private to the test and stopped and removed at its end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from gis.store import db as gdb
from gis.store import embedded

ROOT = Path(__file__).resolve().parents[2]


def wangge(*args, home: Path, url: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `wangge` command for one home (and optionally an external URL)."""
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_DATABASE_URL"}
    env.update(PYTHONPATH=str(ROOT), WANGGE_HOME=str(home))
    if url:
        env["WANGGE_DATABASE_URL"] = url
    p = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def connect(home: Path) -> psycopg.Connection:
    return psycopg.connect(gdb.libpq_url(embedded.layout(home).url()), autocommit=True)


def rows(home: Path) -> list[tuple]:
    with connect(home) as conn:
        return conn.execute("SELECT id, actor, action, detail::text FROM audit_log ORDER BY id").fetchall()


def write(conn, batch: str, n: int = 5) -> None:
    conn.execute("INSERT INTO audit_log (actor, action, detail) SELECT 'backup-test', %s, "
                 "jsonb_build_object('i', i) FROM generate_series(1, %s) i", (batch, n))


@pytest.fixture
def homes(tmp_path):
    """Fresh homes by name; every cluster started in one is stopped and removed afterwards."""
    made: dict[str, Path] = {}

    def home(name: str) -> Path:
        made[name] = tmp_path / name / "home"
        return made[name]

    yield home
    for h in made.values():
        lay = embedded.layout(h)
        try:
            embedded.down(h)
        finally:
            shutil.rmtree(lay.root, ignore_errors=True)
            shutil.rmtree(lay.socket_dir, ignore_errors=True)


def _archived(conn, segment: str) -> bool:
    last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
    return last is not None and last >= segment


def test_backup_then_point_in_time_restore(homes, tmp_path):
    src = homes("source")
    url = embedded.up(src)
    gdb.migrate(url)
    with connect(src) as conn:
        write(conn, "before backup")
    out = json.loads(wangge("db", "backup", str(tmp_path / "bk"), "--json", home=src).stdout)
    assert out["verified"] and out["point_in_time"] and out["source"] == "embedded"
    assert (tmp_path / "bk" / "base" / "PG_VERSION").exists()

    with connect(src) as conn:
        write(conn, "after backup")
        conn.execute("DELETE FROM audit_log WHERE action = 'before backup' AND detail->>'i' = '1'")
        time.sleep(1.1)
        moment = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(1.1)
    expected_at_moment = rows(src)
    with connect(src) as conn:
        write(conn, "after the moment")
        conn.execute("UPDATE audit_log SET actor = 'changed later' WHERE action = 'after backup'")
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + 120
        while not _archived(conn, segment):
            assert time.monotonic() < deadline, "the WAL segment was not archived in 120 s"
            time.sleep(0.2)
    expected_now = rows(src)
    assert len(expected_at_moment) == 9 and len(expected_now) == 14

    at = homes("at-moment")
    got = json.loads(wangge("db", "restore", str(tmp_path / "bk"), "--to", moment.isoformat(), "--json",
                            home=at).stdout)
    assert got["status"] == "restored" and got["to"] == moment.isoformat()
    assert rows(at) == expected_at_moment  # the delete before the moment is there, the later writes are not

    latest = homes("latest")
    got = json.loads(wangge("db", "restore", str(tmp_path / "bk"), "--json", home=latest).stdout)
    assert got["to"] == "end of archived WAL"
    assert rows(latest) == expected_now
    with connect(latest) as conn:  # a restored cluster is an ordinary writable one
        write(conn, "after restore", 1)
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        archive_command = conn.execute("SHOW archive_command").fetchone()[0]
    assert str(embedded.layout(latest).wal_archive) in archive_command  # it archives into its own home now
    assert str(embedded.layout(src).wal_archive) not in archive_command


def test_restore_refusals_name_the_problem(homes, tmp_path):
    src = homes("source")
    url = embedded.up(src)
    wangge("db", "backup", str(tmp_path / "bk"), home=src)
    busy = wangge("db", "backup", str(tmp_path / "bk"), home=src, check=False)
    assert busy.returncode == 1 and "not empty" in busy.stderr
    live = wangge("db", "restore", str(tmp_path / "bk"), home=src, check=False)  # over a live home: refused
    assert live.returncode == 1 and "fresh home" in live.stderr
    bad = wangge("db", "restore", str(tmp_path / "bk"), "--to", "yesterday", home=homes("x"), check=False)
    assert bad.returncode == 1 and "--to" in bad.stderr
    early = wangge("db", "restore", str(tmp_path / "bk"), "--to", "2020-01-01T00:00:00Z", home=homes("y"),
                   check=False)
    assert early.returncode == 1 and "before this backup" in early.stderr
    nothing = wangge("db", "restore", str(tmp_path), home=homes("z"), check=False)
    assert nothing.returncode == 1 and "not a wangge backup" in nothing.stderr
    external = wangge("db", "restore", str(tmp_path / "bk"), home=homes("w"), url=url, check=False)
    assert external.returncode == 1 and "WANGGE_DATABASE_URL" in external.stderr
    # an external URL whose role lacks REPLICATION: the error says what pg_basebackup needs
    with connect(src) as conn:
        conn.execute("CREATE ROLE plain_user LOGIN NOREPLICATION NOSUPERUSER")
    plain = gdb.libpq_url(url).replace(f"//{embedded._db_user()}@", "//plain_user@")
    denied = wangge("db", "backup", str(tmp_path / "bk2"), "--json", home=src, url=plain, check=False)
    assert denied.returncode == 1 and "REPLICATION" in denied.stderr and "pg_hba.conf" in denied.stderr
    assert "Traceback" not in denied.stderr and str(tmp_path) not in denied.stderr
