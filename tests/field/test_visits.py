"""Visits on the record: checked against the visitor's own grid (outside flagged, not refused; a roaming
role never flagged), a found problem becomes a request with the visit as its source, a resend is stored
once, a late visit keeps its time and a future one is refused naming `at`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from gis.errors import Invalid
from gis.field.visits import VisitIn, record
from gis.store.db import session_scope
from tests.field.conftest import grid_units, grids, inside, new_person


def _record(city, v, **kw):
    engine, _report, loc, rules = city
    with session_scope(engine) as s:
        return record(s, rules, loc, v, **kw)


def test_a_visit_outside_the_visitors_grid_is_flagged_and_a_roaming_role_is_not(city):
    engine = city[0]
    with session_scope(engine) as s:
        a, b = grids(s)[:2]
        in_a, in_b = inside(s, "grid", a), inside(s, "grid", b)
    worker = new_person(engine, "测试网格员", "grid_worker", "grid", a)
    probe = new_person(engine, "测试流动探头", "mobile_probe", "grid", a)
    home, _ = _record(city, VisitIn(worker, *in_a))
    away, created = _record(city, VisitIn(worker, *in_b))
    roam, _ = _record(city, VisitIn(probe, *in_b))
    assert created and home["outside_grid"] is False and home["grid"] == a
    assert away["outside_grid"] is True and away["grid"] == b  # stored, not refused
    assert roam["outside_grid"] is False
    with session_scope(engine) as s:
        assert s.execute(text("SELECT outside_grid FROM visit WHERE id = :i"), {"i": away["id"]}).scalar() is True


def test_a_found_problem_becomes_a_request_with_the_visit_as_its_source(city):
    engine = city[0]
    with session_scope(engine) as s:
        g = grids(s)[2]
        pt = inside(s, "grid", g)
    worker = new_person(engine, "发现问题的网格员", "grid_worker", "grid", g)
    v, _ = _record(city, VisitIn(worker, *pt, found="楼道堆放杂物，有消防隐患", category="安全隐患"))
    assert v["request_id"] is not None
    with session_scope(engine) as s:
        r = s.execute(text("SELECT source, status, text, grid_code FROM request WHERE id = :i"),
                      {"i": v["request_id"]}).first()
        notes = s.execute(text("SELECT note FROM request_event WHERE request_id = :i ORDER BY seq"),
                          {"i": v["request_id"]}).scalars().all()
    assert (r.source, r.status, r.text, r.grid_code) == ("visit", "discovered", "楼道堆放杂物，有消防隐患", g)
    assert any(n and f"visit {v['id']}" in n for n in notes)


def test_the_same_idempotency_key_is_stored_once_and_a_late_visit_keeps_its_time(city):
    engine = city[0]
    with session_scope(engine) as s:
        g = grids(s)[3]
        pt = inside(s, "grid", g)
    worker = new_person(engine, "离线网格员", "grid_worker", "grid", g)
    when = datetime.now(timezone.utc) - timedelta(days=2, hours=3)
    first, created1 = _record(city, VisitIn(worker, *pt, at=when, idempotency_key="phone-1:visit-0001"))
    again, created2 = _record(city, VisitIn(worker, *pt, at=when, found="不同的内容", idempotency_key="phone-1:visit-0001"))
    assert (created1, created2) == (True, False) and again["id"] == first["id"] and again["found"] is None
    assert first["at"] == when and first["received_at"] > when
    with session_scope(engine) as s:
        assert s.execute(text("SELECT count(*) FROM visit WHERE idempotency_key = 'phone-1:visit-0001'")).scalar() == 1
    with pytest.raises(Invalid) as e:
        _record(city, VisitIn(worker, *pt, at=datetime.now(timezone.utc) + timedelta(hours=1)))
    assert e.value.field == "at"
    with pytest.raises(Invalid) as e:
        _record(city, VisitIn(worker, *pt, units=["NOT-A-UNIT"]))
    assert e.value.field == "units"
    with pytest.raises(Invalid) as e:
        _record(city, VisitIn(999_999, *pt))
    assert e.value.field == "person_id"


def test_units_are_kept_by_area_id(city):
    engine = city[0]
    with session_scope(engine) as s:
        g = grids(s)[4]
        units = grid_units(s, g)
        pt = inside(s, "grid", g)
    worker = new_person(engine, "入户网格员", "grid_worker", "grid", g)
    v, _ = _record(city, VisitIn(worker, *pt, units=[units[1][1], units[0][1], units[0][1]]))
    assert v["units"] == sorted([units[0][1], units[1][1]])
    with session_scope(engine) as s:
        ids = s.execute(text("SELECT unit_area_ids FROM visit WHERE id = :i"), {"i": v["id"]}).scalar()
    assert sorted(ids) == sorted([units[0][0], units[1][0]])
