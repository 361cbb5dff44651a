"""The request loop through the API on the small demo city: every step, every illegal move, the
whistle, escalation on time, optimistic locking under concurrency, the append-only log, the board."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from gis.command import loop
from gis.store.db import session_scope
from gis.command.rules import TRANSITIONS, load_rules
from gis.settings import Settings
from gis.vocab import OPEN_STATUSES, REQUEST_STATUSES
from tests.conftest import fresh_demo

POINT = {"lon": 116.876, "lat": 36.618}


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0))
    with TestClient(app) as c:
        c.headers["X-API-Key"] = report["keys"]["admin"]
        yield c, engine, report["keys"]


def new(c, **kw):
    body = {"category": "环境卫生", "text": "楼道垃圾堆放", **POINT, **kw}
    r = c.post("/v1/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def step(c, req, to, **kw):
    r = c.post(f"/v1/requests/{req['id']}/moves", json={"to": to, "version": req["version"], **kw})
    assert r.status_code == 200, r.text
    return r.json()


def test_created_request_is_located_routed_coloured(demo):
    c, engine, _ = demo
    loc = c.get("/v1/locate", params=POINT).json()
    shared = new(c)
    assert shared["status"] == "collected" and shared["version"] == 1 and shared["allowed"] == ["discovered", "rejected"]
    assert shared["grid"]["code"] == loc["grid"]["code"] and shared["unit"] == loc["unit"]["code"]
    assert shared["generation"] == loc["generation"]
    assert shared["colour"] == "blue" and shared["matter_class"] == "shared"
    due = datetime.fromisoformat(shared["due_at"]) - datetime.fromisoformat(shared["created_at"])
    assert due == timedelta(hours=240)
    roles = {a["role"] for a in shared["assignees"]}
    assert roles == {"grid_worker", "community_secretary"}
    # public matter → the department holding the category; red when important and urgent
    public = new(c, category="安全隐患", important=True, urgent=True)
    assert public["colour"] == "red" and public["department"] == "区应急管理局"
    assert public["assignees"][0] == {"role": "department", "name": "区应急管理局", "level": "district",
                                      "area_code": loc["district"]["code"], "phone": None}
    assert datetime.fromisoformat(public["due_at"]) - datetime.fromisoformat(public["created_at"]) == timedelta(hours=24)
    # private matter → the unit leader; the matter class can be given in Chinese and overrides
    private = new(c, category="设施维修", matter_class="自家事", urgent=True)
    assert private["matter_class"] == "private" and private["colour"] == "orange"
    assert [a["role"] for a in private["assignees"]] == ["unit_leader"]
    # the log has the first step
    got = c.get(f"/v1/requests/{shared['id']}").json()
    assert [(e["seq"], e["action"], e["to_status"]) for e in got["events"]] == [(1, "collect", "collected")]


def test_bad_requests_are_refused_by_name(demo):
    c, _, _ = demo
    r = c.post("/v1/requests", json={"category": "不存在", **POINT})
    assert r.status_code == 422 and "category" in r.json()["detail"] and "环境卫生" in r.json()["detail"]
    r = c.post("/v1/requests", json={"category": "环境卫生", "lon": 10.0, "lat": 10.0})
    assert r.status_code == 422 and "no grid" in r.json()["detail"]
    r = c.post("/v1/requests", json={"category": "环境卫生", "matter_class": "别人的事", **POINT})
    assert r.status_code == 422 and "matter_class" in r.json()["detail"]
    r = c.post("/v1/requests", json={"category": "环境卫生"})
    assert r.status_code == 422 and "lon" in r.json()["detail"]
    r = c.post("/v1/requests", json={"category": "环境卫生", "address": "火星路999号"})
    assert r.status_code == 422 and r.json()["field"] == "address"
    assert c.get("/v1/requests/999999").status_code == 404


def test_request_by_address(demo):
    c, engine, _ = demo
    with engine.connect() as conn:
        addr, x, y = conn.execute(text("SELECT address, ST_X(geom), ST_Y(geom) FROM address ORDER BY id LIMIT 1")).one()
    got = new(c, lon=None, lat=None, address=addr)
    loc = c.get("/v1/locate", params={"lon": x, "lat": y}).json()
    assert got["grid"]["code"] == loc["grid"]["code"] and got["address"] == addr


def test_every_step_of_the_loop_with_whistle(demo):
    c, engine, _ = demo
    r = new(c, category="安全隐患", important=True)
    seen = ["collected"]
    for to, kw in [("discovered", {}), ("analysed", {}), ("dispatched", {}), ("handling", {}),
                   ("coordinating", {"departments": ["区应急管理局", "区消防救援大队"]})]:
        r = step(c, r, to, note=f"to {to}", **kw)
        seen.append(to)
    assert r["status"] == "coordinating" and {w["department"] for w in r["whistle"]} == {"区应急管理局", "区消防救援大队"}
    # leaving coordination before every summoned department has reported: 409 naming them
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "handling", "version": r["version"]})
    assert bad.status_code == 409 and bad.json()["pending"] == ["区应急管理局", "区消防救援大队"]
    r = c.post(f"/v1/requests/{r['id']}/acknowledgements", json={"department": "区应急管理局", "by": "王科长"}).json()
    again = c.post(f"/v1/requests/{r['id']}/acknowledgements", json={"department": "区应急管理局"})
    assert again.status_code == 409
    stranger = c.post(f"/v1/requests/{r['id']}/acknowledgements", json={"department": "区水务局"})
    assert stranger.status_code == 409 and "not summoned" in stranger.json()["detail"]
    r = c.post(f"/v1/requests/{r['id']}/acknowledgements", json={"department": "区消防救援大队"}).json()
    r = step(c, r, "handling")
    r = step(c, r, "supervised", note="督办")
    r = step(c, r, "fed_back", result="已清理楼道并加装充电桩")
    r = step(c, r, "handling", note="居民反映仍有车辆充电，返工")
    assert r["result"] is None and r["finished_at"] is None
    r = step(c, r, "fed_back", result="复查已整改")
    r = step(c, r, "evaluated", satisfaction=5, feedback="满意")
    assert r["status"] == "evaluated" and r["satisfaction"] == 5 and r["allowed"] == [] and r["closed_at"]
    events = r["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)) == list(range(1, r["version"] + 1))
    assert [e["to_status"] for e in events if e["action"] == "move"] == seen[1:] + [
        "handling", "supervised", "fed_back", "handling", "fed_back", "evaluated"]
    assert [e["detail"]["department"] for e in events if e["action"] == "acknowledge"] == ["区应急管理局", "区消防救援大队"]
    assert any(e["actor"].endswith("(王科长)") for e in events)
    # finished: nothing more is allowed
    last = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "handling", "version": r["version"]})
    assert last.status_code == 409 and last.json()["allowed"] == []


@pytest.mark.parametrize("status", [s for s in TRANSITIONS if s not in ("evaluated",)])
def test_every_illegal_move_is_409_with_allowed_named(demo, status):
    c, engine, _ = demo
    r = new(c)
    path = {"collected": [], "discovered": ["discovered"], "analysed": ["discovered", "analysed"],
            "dispatched": ["discovered", "analysed", "dispatched"],
            "handling": ["discovered", "analysed", "dispatched", "handling"],
            "coordinating": ["discovered", "analysed", "dispatched", "handling", "coordinating"],
            "supervised": ["discovered", "analysed", "dispatched", "supervised"],
            "fed_back": ["discovered", "analysed", "dispatched", "handling", "fed_back"],
            "rejected": ["rejected"]}[status]
    extra = {"coordinating": {"departments": ["区城市管理局"]}, "fed_back": {"result": "done"},
             "rejected": {"note": "重复上报"}}
    for to in path:
        r = step(c, r, to, **extra.get(to, {}))
    assert r["status"] == status
    for to in TRANSITIONS:
        if to in TRANSITIONS[status]:
            continue
        bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": to, "version": r["version"], "result": "x",
                                                            "satisfaction": 3, "note": "x"})
        assert bad.status_code == 409, (status, to)
        assert bad.json()["allowed"] == list(TRANSITIONS[status]) and bad.json()["status"] == status
    assert c.get(f"/v1/requests/{r['id']}").json()["version"] == r["version"]  # nothing was written


def test_moves_that_need_something_say_what(demo):
    c, _, _ = demo
    r = new(c)
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "rejected", "version": 1})
    assert bad.status_code == 422 and bad.json()["field"] == "note"
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "discovered"})
    assert bad.status_code == 422 and bad.json()["field"] == "version"
    for to in ("discovered", "analysed", "dispatched", "handling"):
        r = step(c, r, to)
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "coordinating", "version": r["version"]})
    assert bad.status_code == 422 and bad.json()["field"] == "departments"
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "coordinating", "version": r["version"],
                                                        "departments": ["不存在局"]})
    assert bad.status_code == 422 and "不存在局" in bad.json()["detail"]
    bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "fed_back", "version": r["version"]})
    assert bad.status_code == 422 and bad.json()["field"] == "result"
    r = step(c, r, "fed_back", result="ok")
    for sat in (None, 0, 6):
        bad = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "evaluated", "version": r["version"],
                                                            "satisfaction": sat})
        assert bad.status_code == 422 and bad.json()["field"] == "satisfaction"


def test_stale_version_is_refused(demo):
    c, _, _ = demo
    r = new(c)
    step(c, r, "discovered")
    stale = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "rejected", "version": 1, "note": "dup"})
    assert stale.status_code == 409 and stale.json()["version"] == 2


def test_concurrent_moves_never_lose_a_step(demo):
    c, engine, _ = demo
    r = new(c)
    rules = load_rules()
    results, barrier = [], threading.Barrier(8)

    def attempt(i):
        barrier.wait()
        try:
            with session_scope(engine) as s:
                out = loop.move(s, rules, r["id"], "discovered" if i % 2 else "rejected", 1, loop.Actor("command", f"k{i}"),
                                note="race")
            results.append(("ok", out["status"]))
        except loop.StaleVersion:
            results.append(("stale", None))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(k for k, _ in results) == ["ok"] + ["stale"] * 7
    got = c.get(f"/v1/requests/{r['id']}").json()
    assert got["version"] == 2 and len(got["events"]) == 2 and got["status"] == [s for k, s in results if k == "ok"][0]


def test_escalation_fires_when_the_deadline_passes(demo):
    c, engine, _ = demo
    rules = load_rules()
    t0 = datetime.now(timezone.utc) - timedelta(days=5)
    with session_scope(engine) as s:
        from gis.locate.engine import build_engine
        from gis.store.generations import active_id
        locator = build_engine(engine, active_id(s))
        red = loop.create(s, rules, locator, lon=POINT["lon"], lat=POINT["lat"], category="安全隐患",
                          important=True, urgent=True, now=t0)
        blue = loop.create(s, rules, locator, lon=POINT["lon"], lat=POINT["lat"], category="环境卫生", now=t0)
        red = loop.move(s, rules, red["id"], "discovered", 1, loop.SYSTEM, now=t0)
    with session_scope(engine) as s:  # one second before the red deadline: nothing
        assert red["id"] not in loop.escalate_overdue(s, now=t0 + timedelta(hours=24) - timedelta(seconds=1))
    with session_scope(engine) as s:  # just after: the red one only, once
        fired = loop.escalate_overdue(s, now=t0 + timedelta(hours=24, seconds=1))
        assert red["id"] in fired and blue["id"] not in fired
    with session_scope(engine) as s:
        assert red["id"] not in loop.escalate_overdue(s, now=t0 + timedelta(hours=48))
    got = c.get(f"/v1/requests/{red['id']}").json()
    assert got["status"] == "supervised" and got["overdue"] and got["escalated_at"]
    last = got["events"][-1]
    assert last["action"] == "escalate" and last["actor"] == "system" and last["from_status"] == "discovered"
    assert last["detail"]["raised_to"] == "street"
    assert "dispatched" in got["allowed"]


def test_step_log_is_append_only(demo):
    c, engine, _ = demo
    r = new(c)
    for sql in ("UPDATE request_event SET note = 'x' WHERE request_id = :r",
                "DELETE FROM request_event WHERE request_id = :r"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(sql), {"r": r["id"]})
    assert len(c.get(f"/v1/requests/{r['id']}").json()["events"]) == 1


def test_roles(demo):
    c, _, keys = demo
    r = new(c)
    consumer = {"X-API-Key": keys["consumer"]}
    made = c.post("/v1/requests", json={"category": "环境卫生", **POINT}, headers=consumer)
    assert made.status_code == 201
    assert all("****" in (a["phone"] or "****") for a in made.json()["assignees"])
    assert c.get(f"/v1/requests/{r['id']}", headers=consumer).status_code == 200
    moved = c.post(f"/v1/requests/{r['id']}/moves", json={"to": "discovered", "version": 1}, headers=consumer)
    assert moved.status_code == 403
    assert c.post("/v1/requests", json={"category": "环境卫生", **POINT}, headers={"X-API-Key": "nope"}).status_code == 401


def test_board_publishes_finished_requests(demo):
    c, engine, _ = demo
    r = new(c)
    for to, kw in [("discovered", {}), ("analysed", {}), ("dispatched", {}), ("handling", {}),
                   ("fed_back", {"result": "垃圾已清运"})]:
        r = step(c, r, to, **kw)
    month = datetime.fromisoformat(r["created_at"]).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m")
    board = c.get(f"/v1/grids/{r['grid']['code']}/board", params={"month": month}).json()
    item = next(i for i in board["items"] if i["id"] == r["id"])
    assert item["result"] == "垃圾已清运" and item["on_time"] is True
    assert board["finished"] >= 1 and board["received"] >= board["finished"]
    assert "address" not in item and "text" not in item
    assert (e422 := c.get(f"/v1/grids/{r['grid']['code']}/board", params={"month": "2026-13"})).status_code == 422 and e422.json()["errors"][0]["field"] == "month"


def test_listing_for_the_command_center(demo):
    c, _, _ = demo
    body = c.get("/v1/requests", params={"status": "open", "limit": 50}).json()["requests"]
    assert body and all(r["status"] in OPEN_STATUSES for r in body)
    dues = [r["due_at"] for r in body]
    assert dues == sorted(dues)
    overdue = c.get("/v1/requests", params={"overdue": True}).json()["requests"]
    assert overdue and all(r["overdue"] for r in overdue)


def test_importance_and_urgency_as_levels(demo):
    c, _, _ = demo
    assert new(c, importance="重要", urgency="紧急")["colour"] == "red"
    assert new(c, importance=3, urgency=0)["colour"] == "yellow"
    assert new(c, importance="normal", urgency="high")["colour"] == "orange"
    bad = c.post("/v1/requests", json={"category": "环境卫生", **POINT, "urgency": "asap"})
    assert bad.status_code == 422 and bad.json()["field"] == "urgency"
    bad = c.post("/v1/requests", json={"category": "环境卫生", **POINT, "importance": 7})
    assert bad.status_code == 422 and bad.json()["field"] == "importance"


def test_the_state_machine_covers_every_status():
    """Every status of the vocabulary has its moves, and every open status can still move."""
    assert set(TRANSITIONS) == set(REQUEST_STATUSES)
    assert all(TRANSITIONS[s] for s in OPEN_STATUSES)


def test_move_rules_name_real_moves_and_arguments():
    """Every per-move rule is keyed by real statuses, names an argument the loop takes, and applies to a
    move the state machine allows."""
    from gis.command.loop import ARGUMENTS
    from gis.command.rules import ANY, MOVE_RULES

    moves = {(f, t) for f, ts in TRANSITIONS.items() for t in ts}
    for (frm, to), rule in MOVE_RULES.items():
        assert frm in TRANSITIONS or frm == ANY
        assert to in TRANSITIONS or to == ANY
        assert any((frm in (f, ANY)) and (to in (t, ANY)) for f, t in moves), (frm, to)
        for arg in (rule.needs, rule.takes):
            assert arg is None or arg in ARGUMENTS
