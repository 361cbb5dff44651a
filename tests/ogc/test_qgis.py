"""QGIS (Debian python3-qgis, headless) loads the grids layer over OGC API – Features from a live
`wangge serve`. Skipped, with the reason, where python3-qgis is not installed (it pulls ~230 Debian
packages, so the setup script does not install it)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from sqlalchemy import text

from gis import keys
from gis.store.db import session_scope
from tests.conftest import fresh_demo
from tests.ogc.server import serve

SYSTEM_PY = shutil.which("python3", path="/usr/bin")


def _has_qgis() -> bool:
    if not SYSTEM_PY:
        return False
    r = subprocess.run([SYSTEM_PY, "-c", "import qgis.core"], capture_output=True, timeout=60,
                       env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _has_qgis(), reason="python3-qgis is not installed here (about 230 Debian "
                                                        "packages); GDAL's OAPIF client is tested instead")

SCRIPT = """
import sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
base, key = sys.argv[1], sys.argv[2]
uri = f"url='{base}/ogc' typename='grids' http-header:X-API-Key='{key}'"
layer = QgsVectorLayer(uri, "grids", "OAPIF")
if not layer.isValid():
    print("INVALID", layer.error().summary())
    sys.exit(1)
print("\\n".join(sorted(str(f["code"]) for f in layer.getFeatures())))
app.exitQgis()
"""


def test_qgis_loads_the_grids_layer(engine, pg_url, tmp_path):
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        key = keys.create(s, "consumer")
    with engine.connect() as conn:
        want = sorted(conn.execute(text("SELECT code FROM generation_area WHERE generation_id = :g AND level = 'grid'"),
                                   {"g": report["generation"]}).scalars())
    with serve(pg_url, tmp_path / "home", tmp_path / "serve.log") as base:
        r = subprocess.run([SYSTEM_PY, "-c", SCRIPT, base, key], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-1000:]
    assert r.stdout.split() == want
