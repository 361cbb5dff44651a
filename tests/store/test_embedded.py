"""The embedded cluster: found, started as root from a folder postgres cannot reach, reused, stopped;
and a message naming the package when PostgreSQL or PostGIS is missing."""
from __future__ import annotations

import os
import shutil

import psycopg
import pytest

from gis.store import embedded


def test_missing_postgresql_names_the_package(tmp_path):
    with pytest.raises(embedded.EmbeddedError) as err:
        embedded.find_binaries(lib=tmp_path / "lib", share=tmp_path / "share", use_path=False)
    assert "postgresql-15-postgis-3" in str(err.value) and "apt-get install" in str(err.value)


def test_missing_postgis_names_the_package(tmp_path):
    (tmp_path / "lib" / "15" / "bin").mkdir(parents=True)
    (tmp_path / "lib" / "15" / "bin" / "initdb").write_text("")
    with pytest.raises(embedded.EmbeddedError) as err:
        embedded.find_binaries(lib=tmp_path / "lib", share=tmp_path / "share", use_path=False)
    assert "postgresql-15-postgis-3" in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="the root-specific layout only applies to root")
def test_unreachable_home_moves_cluster_and_links_it(tmp_path):
    home = tmp_path / "private" / "home"
    home.parent.mkdir()
    os.chmod(home.parent, 0o700)
    lay = embedded.layout(home)
    assert lay.root != lay.link and str(lay.root).startswith("/var/tmp/")


def test_up_reuse_down(tmp_path):
    home = tmp_path / "h" / ("deep" * 20)  # long enough that the socket must move to /tmp
    url = embedded.up(home)
    lay = embedded.layout(home)
    assert len(str(lay.socket_dir / ".s.PGSQL.5432")) <= embedded.SOCKET_MAX
    assert (home / "pg").exists()
    try:
        assert embedded.up(home) == url  # reused, not re-initialised
        with psycopg.connect(host=str(lay.socket_dir), port=embedded.PORT, user=embedded._db_user(),
                             dbname=embedded.DB_NAME) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3.")
    finally:
        assert embedded.down(home) is True
    assert embedded.down(home) is False
    assert not embedded.is_running(lay)
    shutil.rmtree(lay.root, ignore_errors=True)
    shutil.rmtree(lay.socket_dir, ignore_errors=True)
