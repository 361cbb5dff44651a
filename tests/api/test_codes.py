"""GET /v1/codes/{code} and /v1/codes.csv, `wangge codes` and `wangge check`: what a code was and what
it became after a redraw, for every role, as JSON and as CSV other systems load."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.conftest import assign
from tests.locate.test_api_locate import hierarchy

COMM = "370102001001"
WANGGE = str(Path(sys.executable).parent / "wangge")


@pytest.fixture
def client(clean_db, pg_url):
    """The small hierarchy (two grids west/east, one unit) redrawn into south/north grids and committed."""
    gen = write_generation(clean_db, hierarchy())
    with session_scope(clean_db) as s:
        for x in (117.005, 117.015):
            for y in (36.605, 36.615):
                s.execute(text("INSERT INTO address (address, households, geom) VALUES (:a, 200, "
                               "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"a": f"楼{x}-{y}", "x": x, "y": y})
        assign(s, "李强", None, "grid_worker", "grid", COMM + "002")
        ks = {r: keys.create(s, r) for r in ("consumer", "command", "planner", "admin")}
    south, north = shapely.box(117.0, 36.6, 117.02, 36.61), shapely.box(117.0, 36.61, 117.02, 36.62)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.keys, c.gen = ks, gen
        body = c.post("/v1/redraws", headers={"X-API-Key": ks["planner"]}, json={
            "level": "grid", "parent": COMM, "features": {"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"code": COMM + code, "name": name},
                 "geometry": shapely.geometry.mapping(g)}
                for code, name, g in (("003", "南", south), ("004", "北", north))]}}).json()
        assert body["valid"], body["findings"]
        c.draft = body["draft_generation"]
        assert c.post(f"/v1/redraws/{body['id']}/commit", headers={"X-API-Key": ks["planner"]}).status_code == 200
        yield c


def get(c, url, role="consumer", **kw):
    return c.get(url, headers={"X-API-Key": c.keys[role]}, **kw)


def test_what_an_old_code_was_and_became(client):
    for role in ("consumer", "command", "planner", "admin"):
        assert get(client, f"/v1/codes/{COMM}002", role).status_code == 200
    assert client.get(f"/v1/codes/{COMM}002").status_code == 401
    body = get(client, f"/v1/codes/{COMM}002").json()
    assert body["present"] is False and body["active_generation"] == client.draft
    [was] = body["was"]
    assert (was["level"], was["name"], was["generations"], was["first"], was["last"]) == \
        ("grid", "东网格", [client.gen], client.gen, client.gen)
    assert {(r["kind"], r["to_code"]) for r in body["became"]} == {("redraw", COMM + "003"), ("redraw", COMM + "004")}
    assert [(n["code"], n["share"]) for n in body["now"]] == [(COMM + "003", 0.5), (COMM + "004", 0.5)]
    # the new grid came from both old ones; the unit under it was re-coded, keeping its area
    came = get(client, f"/v1/codes/{COMM}003").json()
    assert {r["from_code"] for r in came["came_from"]} == {COMM + "001", COMM + "002"} and came["present"]
    unit = get(client, f"/v1/codes/{COMM}001001").json()
    assert [(r["kind"], r["to_code"]) for r in unit["became"]] == [("recode", COMM + "003001")]
    assert unit["now"] == [{"level": "unit", "code": COMM + "003001", "name": "第1联户",
                            "area_id": unit["was"][0]["area_id"], "share": 1.0}]
    # the grid worker followed the east grid to the successor that took most of it (a tie: first code)
    with session_scope(client.app.state.engine) as s:
        assert s.execute(text("SELECT area_code FROM assignment")).scalar() == COMM + "003"


def test_unknown_codes_and_bad_parameters(client):
    r = get(client, "/v1/codes/999999")
    assert r.status_code == 404 and "999999" in r.json()["detail"] and "never" in r.json()["detail"]
    r = get(client, f"/v1/codes/{COMM}002", params={"level": "unit"})
    assert r.status_code == 404 and COMM + "002" in r.json()["detail"]
    r = get(client, f"/v1/codes/{COMM}002", params={"level": "block"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "level"
    r = get(client, f"/v1/codes/{COMM}002", params={"format": "xml"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    r = get(client, "/v1/codes.csv", params={"generation": 9999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "generation"


def test_csv_for_other_systems(client):
    r = get(client, f"/v1/codes/{COMM}002", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(x["code"], x["to_code"], float(x["share"])) for x in rows] == \
        [(COMM + "002", COMM + "003", 0.5), (COMM + "002", COMM + "004", 0.5)]
    r = get(client, "/v1/codes.csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {(x["kind"], x["from_code"], x["to_code"]) for x in rows} == {
        ("redraw", COMM + "001", COMM + "003"), ("redraw", COMM + "001", COMM + "004"),
        ("redraw", COMM + "002", COMM + "003"), ("redraw", COMM + "002", COMM + "004"),
        ("recode", COMM + "001001", COMM + "003001")}
    assert {x["generation"] for x in rows} == {str(client.draft)}
    # the generation before the redraw wrote no crosswalk: a header only
    r = get(client, "/v1/codes.csv", params={"generation": client.gen, "level": "grid"})
    assert r.status_code == 200 and r.content.decode("utf-8-sig").strip().split(",")[0] == "generation"


def run(*args, url):
    env = dict(os.environ, WANGGE_DATABASE_URL=url)
    return subprocess.run([WANGGE, *args], capture_output=True, text=True, env=env, timeout=300)


def test_command_line_codes_and_check(client, pg_url):
    p = run("codes", COMM + "002", "--json", url=pg_url)
    assert p.returncode == 0, p.stderr
    assert [n["code"] for n in json.loads(p.stdout)["now"]] == [COMM + "003", COMM + "004"]
    p = run("codes", "999999", url=pg_url)
    assert p.returncode != 0 and "999999" in p.stderr and p.stdout == ""
    p = run("check", "--json", url=pg_url)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"generation": client.draft, "ok": True, "findings": []}
    # the generation before the redraw no longer holds the grid the worker now serves
    p = run("check", "--generation", str(client.gen), "--json", url=pg_url)
    out = json.loads(p.stdout)
    assert p.returncode == 1 and [f["kind"] for f in out["findings"]] == ["assignment_area"]
    p = run("check", "--generation", "9999", url=pg_url)
    assert p.returncode != 0 and "9999" in p.stderr
