"""The field-work routes over HTTP on the demo city: a phone's visit and its resend (201, then 200 with the
first), staff reads of visits logged with their purpose, bulk CSV with every bad line listed, the public
board without residents' data or names, the purge of what is past retention, and the rounds page in
headless Chromium with the outside world unreachable."""
from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.settings import Settings
from gis.store.db import session_scope
from tests.browser import CHROMIUM, live_server, load_page
from tests.field.conftest import grid_units, grids, inside, new_person

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api(city, pg_url):
    engine = city[0]
    with session_scope(engine) as s:
        ks = {r: keys.create(s, r) for r in ("consumer", "command", "planner", "admin")}
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0, key_failures_max=100_000))
    with TestClient(app) as c:
        yield c, ks, engine


def test_a_phone_posts_a_visit_and_a_resend_answers_the_first(api):
    c, ks, engine = api
    with session_scope(engine) as s:
        g = grids(s)[6]
        lon, lat = inside(s, "grid", g)
    pid = new_person(engine, "手机网格员", "grid_worker", "grid", g)
    body = {"person_id": pid, "lon": lon, "lat": lat, "at": "2026-01-05T09:30:00", "idempotency_key": "app-7:00000001"}
    first = c.post("/v1/visits", json=body, headers={"X-API-Key": ks["consumer"]})
    again = c.post("/v1/visits", json=body, headers={"X-API-Key": ks["consumer"]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True
    assert first.json()["at"].startswith("2026-01-05T01:30:00")  # China Standard Time kept as the moment it was
    bad = c.post("/v1/visits", json={**body, "idempotency_key": None, "kind": "party"},
                 headers={"X-API-Key": ks["consumer"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    bad = c.post("/v1/visits", json={**body, "idempotency_key": None, "at": future}, headers={"X-API-Key": ks["consumer"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"
    assert c.post("/v1/visits", json=body, headers={"X-API-Key": ks["planner"]}).status_code == 403


def test_staff_reads_of_visits_are_logged_with_their_purpose(api):
    c, ks, engine = api
    with session_scope(engine) as s:
        g = grids(s)[0]
        before = s.execute(text("SELECT count(*) FROM pii_access_log")).scalar()
    assert c.get(f"/v1/visits?grid={g}", headers={"X-API-Key": ks["consumer"]}).status_code == 403
    r = c.get(f"/v1/visits?grid={g}&purpose=周例会核查", headers={"X-API-Key": ks["command"]})
    assert r.status_code == 200 and r.json()["visits"], "the demo week has visits in every grid"
    assert all(v["person"] for v in r.json()["visits"])
    with session_scope(engine) as s:
        rows = s.execute(text("SELECT actor, what, purpose, subjects FROM pii_access_log ORDER BY id")).all()
    assert len(rows) == before + 1
    last = rows[-1]
    assert last.actor == f"command:{ks['command'][:10]}" and g in last.what and last.purpose == "周例会核查"
    assert last.subjects == len({v["person_id"] for v in r.json()["visits"]})
    r = c.get("/v1/stars", headers={"X-API-Key": ks["admin"]})
    assert r.status_code == 200 and r.json()["names_shown"] is True
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM pii_access_log")).scalar() == before + 2
    public = c.get("/v1/stars", headers={"X-API-Key": ks["consumer"]}).json()
    assert public["names_shown"] is False
    assert all("name" not in star for com in public["communities"] for star in com["stars"])


def test_bulk_visits_list_every_bad_line_and_write_nothing(api, tmp_path):
    c, ks, engine = api
    with session_scope(engine) as s:
        g = grids(s)[7]
        units = grid_units(s, g)
        lon, lat = inside(s, "grid", g)
        count = s.execute(text("SELECT count(*) FROM visit")).scalar()
    pid = new_person(engine, "导入的网格员", "grid_worker", "grid", g)
    good = [f"{pid},{lon},{lat},2026-02-0{d}T10:00:00,visit,{units[d][1]},csv-line-000{d}" for d in range(1, 4)]
    header = "person_id,lon,lat,at,kind,units,idempotency_key"
    bad = "\n".join([header, good[0], f"{pid},abc,{lat},2026-02-01,visit,,", f"{pid},{lon},{lat},2999-01-01,visit,,",
                     f"{pid},{lon},{lat},2026-02-01,visit,NOPE,", good[1]])
    r = c.post("/v1/visits/import", files={"file": ("v.csv", bad.encode(), "text/csv")},
               headers={"X-API-Key": ks["command"]})
    assert r.status_code == 422
    for line, word in ((3, "lon"), (4, "at"), (5, "units")):
        assert re.search(fr"line {line}: {word}\b", r.json()["detail"]), r.json()["detail"]
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM visit")).scalar() == count
    f = tmp_path / "visits.csv"
    f.write_text("\n".join([header] + good + [good[0]]), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "api.cli", "import", "visits", str(f), "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "WANGGE_DATABASE_URL": str(engine.url.render_as_string(
                           hide_password=False))})
    assert p.returncode == 0, p.stderr
    assert '"visits": 3' in p.stdout and '"already_on_record": 1' in p.stdout
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM visit WHERE source = 'import' AND person_id = :p"),
                         {"p": pid}).scalar() == 3


def test_the_board_shows_no_residents_data_and_no_names_by_default(api):
    c, ks, engine = api
    with session_scope(engine) as s:
        g = grids(s)[0]
        finds = s.execute(text("SELECT found FROM visit WHERE found IS NOT NULL")).scalars().all()
        names = s.execute(text("SELECT name FROM person WHERE name LIKE '%报到党员%'")).scalars().all()
    r = c.get(f"/v1/boards/{g}", headers={"X-API-Key": ks["consumer"]})
    assert r.status_code == 200
    b = r.json()
    assert b["holding_units"] and b["rounds"]["patrols"] >= 2 and b["names_shown"] is False
    page = r.text
    assert not any(f in page for f in finds) and not any(n in page for n in names)
    assert "phone" not in page and "lon" not in page
    assert c.get("/v1/boards/NO-SUCH-GRID", headers={"X-API-Key": ks["consumer"]}).status_code == 404


def test_purge_deletes_what_is_past_retention(api):
    _c, _ks, engine = api
    with session_scope(engine) as s:
        pid = s.execute(text("SELECT min(person_id) FROM visit")).scalar()
        old = s.execute(text("""INSERT INTO visit (person_id, at, geom, outside_grid)
                                VALUES (:p, now() - interval '3 years', ST_SetSRID(ST_MakePoint(117, 36.6), 4326), false)
                                RETURNING id"""), {"p": pid}).scalar()
        kept = s.execute(text("SELECT count(*) FROM visit WHERE at > now() - interval '1 year'")).scalar()
    p = subprocess.run([sys.executable, "-m", "api.cli", "purge", "--json"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**__import__("os").environ, "WANGGE_DATABASE_URL": str(
                           engine.url.render_as_string(hide_password=False))})
    assert p.returncode == 0, p.stderr
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM visit WHERE id = :i"), {"i": old}).scalar() == 0
        assert s.execute(text("SELECT count(*) FROM visit WHERE at > now() - interval '1 year'")).scalar() == kept


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_rounds_page_renders_offline(city, pg_url, tmp_path):
    engine = city[0]
    with session_scope(engine) as s:
        key = keys.create(s, "command")
        community = s.execute(text("SELECT min(code) FROM generation_area WHERE level = 'community'")).scalar()
    with live_server(create_app(Settings(database_url=pg_url, escalation_interval_s=0))) as base:
        page = load_page(f"{base}/maps/rounds?api_key={key}", screenshot=tmp_path / "rounds.png")
        html = urllib.request.urlopen(f"{base}/maps/rounds?api_key={key}").read().decode()
        part = urllib.request.urlopen(f"{base}/maps/rounds?community={community}&api_key={key}").read().decode()
    with session_scope(engine) as s:
        units = s.execute(text("SELECT count(*) FROM generation_area JOIN active_generation USING (generation_id) "
                               "WHERE level = 'unit'")).scalar()
    assert "leaflet-container" in page.dom and "<canvas" in page.dom, "Leaflet drew the layers"
    assert "days since the last visit" in page.dom and "never visited" in page.dom  # the legend
    assert html.count('"colour": "') == units  # one coloured feature per unit
    assert '"colour": "#1a9850"' in html  # units visited within the week (the demo week) are green
    assert page.console_errors == [] and page.remote_requests() == []
    assert 0 < part.count('"colour": "') < units
