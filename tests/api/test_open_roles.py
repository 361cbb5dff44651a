"""The roles a city extends (issue 12): listed to any key, added by an admin (API and command line),
malformed codes and duplicates refused by name, builtins never deleted, a held role kept."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.conftest import fresh_demo

BUILTINS = {"grid_worker", "grid_leader", "unit_leader", "building_leader", "estate_grid_leader",
            "holding_department", "community_secretary", "department_contact", "volunteer", "mediator",
            "reporting_official", "mobile_probe"}


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    fresh_demo(engine)
    with session_scope(engine) as s:
        s.execute(text("DELETE FROM role WHERE NOT builtin"))
        ks = {r: keys.create(s, r) for r in ("consumer", "command", "planner", "admin")}
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0))
    with TestClient(app) as c:
        yield c, ks, pg_url
    with session_scope(engine) as s:
        s.execute(text("DELETE FROM assignment WHERE role IN (SELECT code FROM role WHERE NOT builtin)"))
        s.execute(text("DELETE FROM role WHERE NOT builtin"))


def test_every_key_lists_the_builtin_roles(demo):
    c, ks, _ = demo
    for role in ks:
        r = c.get("/v1/roles", headers={"X-API-Key": ks[role]})
        assert r.status_code == 200
        got = {x["code"]: x for x in r.json()["roles"]}
        assert BUILTINS <= set(got)
        assert got["mobile_probe"]["roams"] and not got["grid_worker"]["roams"]
        assert got["volunteer"]["name"] == "志愿者" and all(got[b]["builtin"] for b in BUILTINS)
        assert got["grid_worker"]["assignments"] > 0  # the demo's grid workers


def test_an_admin_adds_a_role_once(demo):
    c, ks, _ = demo
    body = {"code": "safety_inspector2", "name": "安全巡查员", "roams": True}
    assert c.post("/v1/roles", json=body, headers={"X-API-Key": ks["command"]}).status_code == 403
    r = c.post("/v1/roles", json=body, headers={"X-API-Key": ks["admin"]})
    assert r.status_code == 201, r.text
    assert r.json() | {} == {"code": "safety_inspector2", "name": "安全巡查员", "roams": True, "builtin": False,
                             "assignments": 0}
    listed = {x["code"]: x for x in c.get("/v1/roles", headers={"X-API-Key": ks["consumer"]}).json()["roles"]}
    assert listed["safety_inspector2"]["roams"] is True
    dup = c.post("/v1/roles", json=body | {"name": "别名"}, headers={"X-API-Key": ks["admin"]})
    assert dup.status_code == 409 and dup.json()["detail"].startswith("code:") and "safety_inspector2" in dup.json()["detail"]
    builtin = c.post("/v1/roles", json={"code": "volunteer", "name": "志愿者"}, headers={"X-API-Key": ks["admin"]})
    assert builtin.status_code == 409


@pytest.mark.parametrize("code", ["Volunteer", "9lives", "safety-inspector", "a" * 33, "", "巡查员", None, 7])
def test_a_malformed_code_is_refused_naming_it(demo, code):
    c, ks, _ = demo
    r = c.post("/v1/roles", json={"code": code, "name": "x"}, headers={"X-API-Key": ks["admin"]})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("code:")


def test_a_role_needs_a_name_and_a_boolean_roams(demo):
    c, ks, _ = demo
    r = c.post("/v1/roles", json={"code": "nameless"}, headers={"X-API-Key": ks["admin"]})
    assert r.status_code == 422 and r.json()["detail"].startswith("name:")
    r = c.post("/v1/roles", json={"code": "roamer", "name": "x", "roams": "yes"}, headers={"X-API-Key": ks["admin"]})
    assert r.status_code == 422 and r.json()["detail"].startswith("roams:")


def test_builtins_cannot_be_deleted_and_a_held_role_stays(demo):
    c, ks, _ = demo
    admin = {"X-API-Key": ks["admin"]}
    for code in ("grid_worker", "mobile_probe"):
        r = c.delete(f"/v1/roles/{code}", headers=admin)
        assert r.status_code == 409 and "builtin" in r.json()["detail"]
    assert c.post("/v1/roles", json={"code": "night_patrol", "name": "夜巡员"}, headers=admin).status_code == 201
    grid = c.get("/v1/locate", params={"lon": 116.876, "lat": 36.618}, headers=admin).json()["grid"]["code"]
    p = c.post("/v1/people", headers=admin, json={"name": "夜巡甲", "assignments": [
        {"role": "night_patrol", "level": "grid", "area": grid}]})
    assert p.status_code == 201, p.text
    held = c.delete("/v1/roles/night_patrol", headers=admin)
    assert held.status_code == 409 and "held" in held.json()["detail"]
    aid = p.json()["assignments"][0]["id"]
    assert c.delete(f"/v1/people/{p.json()['id']}/assignments/{aid}", headers=admin).status_code == 200
    assert c.delete("/v1/roles/night_patrol", headers=admin).status_code == 204
    assert c.delete("/v1/roles/night_patrol", headers=admin).status_code == 404
    assert c.delete("/v1/roles/grid_worker", headers={"X-API-Key": ks["planner"]}).status_code == 403


def wangge(url, *args):
    env = {**os.environ, "WANGGE_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_roles_on_the_command_line(demo):
    _, _, url = demo
    p = wangge(url, "roles", "add", "river_chief", "河长", "--roams", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["roams"] is True
    listed = json.loads(wangge(url, "roles", "list", "--json").stdout)["roles"]
    assert {"river_chief", *BUILTINS} <= {r["code"] for r in listed}
    dup = wangge(url, "roles", "add", "river_chief", "河长")
    assert dup.returncode != 0 and "river_chief" in dup.stderr and "already" in dup.stderr
    bad = wangge(url, "roles", "add", "River-Chief", "河长")
    assert bad.returncode != 0 and bad.stderr.startswith("error: code:") and "Traceback" not in bad.stderr
    gone = wangge(url, "roles", "delete", "volunteer")
    assert gone.returncode != 0 and "builtin" in gone.stderr
    assert wangge(url, "roles", "delete", "river_chief").returncode == 0
