"""Test runs stop what they start: a pytest session in a fresh WANGGE_HOME leaves no cluster running,
and a cluster whose home was deleted is stopped (and its moved folder removed) by the next `up`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from gis.store import embedded

ROOT = Path(__file__).resolve().parents[2]


def _postmasters_for(data: Path) -> list[str]:
    """Command lines of running postgres processes serving this data folder."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=30).stdout
    return [line for line in out.splitlines() if str(data) in line and "postgres" in line]


def test_a_pytest_session_stops_the_cluster_it_started(tmp_path):
    home = tmp_path / "home"
    probe = tmp_path / "test_probe.py"
    probe.write_text("from sqlalchemy import text\n\n"
                     "def test_db_answers(engine):\n"
                     "    with engine.connect() as c:\n"
                     "        assert c.execute(text('SELECT 1')).scalar() == 1\n")
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_DATABASE_URL"}
    env.update(WANGGE_HOME=str(home), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                        "--rootdir", str(tmp_path), str(probe)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "1 passed" in p.stdout
    lay = embedded.layout(home)
    try:
        assert (lay.data / "PG_VERSION").exists()  # the session really did start a cluster here
        assert not embedded.is_running(lay)
        assert _postmasters_for(lay.data) == []
    finally:
        embedded.down(home)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.socket_dir, ignore_errors=True)


def test_a_session_leaves_a_running_cluster_running(tmp_path):
    home = tmp_path / "home"
    embedded.up(home)
    lay = embedded.layout(home)
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_db(pg_url):\n    assert pg_url\n")
    env = {k: v for k, v in os.environ.items() if k != "WANGGE_DATABASE_URL"}
    env.update(WANGGE_HOME=str(home), PYTHONPATH=str(ROOT))
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                            "--rootdir", str(tmp_path), str(probe)],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        assert embedded.is_running(lay)
    finally:
        embedded.down(home)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.socket_dir, ignore_errors=True)


def test_a_cluster_whose_home_is_gone_is_stopped(tmp_path):
    home = tmp_path / "private" / "home"
    home.parent.mkdir()
    os.chmod(home.parent, 0o700)  # as root this moves the cluster to /var/tmp, outside the home
    embedded.up(home)
    lay = embedded.layout(home)
    assert embedded.is_running(lay)
    shutil.rmtree(home)
    if lay.root == lay.link:  # not moved (not root): the cluster went with its home; `down` needs nothing
        embedded.down(home)
        return
    try:
        assert embedded.layout(home).root == lay.root  # `wangge db down` from the gone home still finds it
        assert embedded.down(home) is True and not embedded.is_running(lay)
        assert not home.exists()  # stopping did not bring the home back
        embedded.start(lay)  # running again with its home gone: the next `up` anywhere stops it
        assert lay.root in embedded.reap_orphans()
        assert not lay.root.exists()
        assert _postmasters_for(lay.data) == []
    finally:
        if lay.root.exists():
            embedded.down(home)
            shutil.rmtree(lay.root, ignore_errors=True)
