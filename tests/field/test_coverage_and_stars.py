"""Coverage of rounds equals a hand count of the visits recorded; the month's service stars equal the
flags (counted by hand from the requests the people finished) with ties broken the same way every time."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from gis.command.periods import TZ, month_window
from gis.field.coverage import rounds, week_window
from gis.field.flags import award, weekly
from gis.field.stars import stars
from gis.field.visits import VisitIn, record
from gis.store.db import session_scope
from tests.field.conftest import grid_units, grids, inside, new_person


def test_a_week_of_visits_gives_the_coverage_of_a_hand_count(city):
    engine, _report, loc, rules = city
    start, end, label = week_window(None, datetime.now(TZ) - timedelta(days=28))  # before the demo's week
    with session_scope(engine) as s:
        g = grids(s)[5]
        units = grid_units(s, g)
    worker = new_person(engine, "每周入户的网格员", "grid_worker", "grid", g)
    visited = units[:6]
    with session_scope(engine) as s:
        for i, (_aid, code, _hh) in enumerate(visited):  # one a day, the first unit twice
            pt = inside(s, "unit", code)
            record(s, rules, loc, VisitIn(worker, *pt, at=start + timedelta(days=i % 7, hours=9)))
        record(s, rules, loc, VisitIn(worker, *inside(s, "unit", visited[0][1]), at=start + timedelta(days=6)))
        # the week before and after do not count for this week
        record(s, rules, loc, VisitIn(worker, *inside(s, "unit", units[7][1]), at=start - timedelta(hours=1)))
        record(s, rules, loc, VisitIn(worker, *inside(s, "unit", units[8][1]), at=end + timedelta(hours=1)))
        out = rounds(s, loc.generation, "grid", g, label, stale_weeks=2)
    row = out["grids"][0]
    hand_total = sum(hh for _a, _c, hh in units)
    hand_visited = sum(hh for _a, _c, hh in visited)
    assert (row["households"], row["visited_households"]) == (hand_total, hand_visited)
    assert row["share"] == round(hand_visited / hand_total, 4)
    assert (row["units"], row["visited_units"], row["visits"]) == (len(units), len(visited), len(visited) + 1)
    # not visited within two weeks up to the week's end: all but the six and the one visited the hour before
    stale = {u["code"] for u in row["not_visited"]}
    assert stale == {c for _a, c, _h in units} - {c for _a, c, _h in visited} - {units[7][1]}
    # the community's answer holds the same grid with the same count
    with session_scope(engine) as s:
        community = s.execute(text("""SELECT parent_code FROM generation_area JOIN active_generation USING
                                      (generation_id) WHERE level = 'grid' AND code = :g"""), {"g": g}).scalar()
        agg = rounds(s, loc.generation, "community", community, label, stale_weeks=1)
    mine = next(r for r in agg["grids"] if r["grid"] == g)
    assert mine["visited_households"] == hand_visited
    assert agg["households"] == sum(r["households"] for r in agg["grids"])


def _hand_flags(s, start, end) -> dict[int, int]:
    """Flags per person of the month by hand: 1 per finished order handled (assignee naming the person),
    +1 when on time (the active seed rules), from the requests themselves."""
    rows = s.execute(text("""SELECT assignees, finished_at, due_at FROM request
                             WHERE status IN ('fed_back', 'evaluated') AND finished_at >= :s AND finished_at < :e"""),
                     {"s": start, "e": end}).all()
    out: dict[int, int] = {}
    for assignees, fin, due in rows:
        for a in assignees:
            if "person_id" in a:
                pid = int(a["person_id"])
                out[pid] = out.get(pid, 0) + 1 + (due is not None and fin <= due)
    return out


def test_the_months_service_stars_equal_the_flags(city):
    engine, report, loc, _rules = city
    with session_scope(engine) as s:
        last = s.execute(text("SELECT max(finished_at) FROM request WHERE status IN ('fed_back','evaluated')")).scalar()
        start, end = month_window(f"{last.astimezone(TZ):%Y-%m}")
        award(s, start)
        hand = _hand_flags(s, start, end)
        wall = stars(s, loc.generation, start, end, names=True)
        home = dict(s.execute(text("""SELECT a.person_id, ga.code FROM assignment a
            JOIN generation_area ga ON ga.area_id = a.area_id JOIN active_generation USING (generation_id)
            WHERE a.role = 'reporting_official'""")).all())
        totals = {r["person_id"]: r for r in weekly(s, start, end)}
    assert hand, "the demo hands finished orders to reporting officials"
    assert wall
    for c in wall:
        people = sorted(((hand[p], p) for p, com in home.items() if com == c["community"] and hand.get(p)),
                        key=lambda t: (-t[0], t[1]))
        # equal flags fall to more finished orders then the lower id; with equal finished counts (the seed
        # rules give a finished order 1 or 2 flags) the id decides
        got = [(s_["flags"], s_["person_id"]) for s_ in c["stars"]]
        assert [f for f, _ in got] == [f for f, _ in people[:3]]
        assert {p for _, p in got} <= {p for _, p in people}
        for f, p in got:
            assert hand[p] == f and totals[p]["flags"] == f
        assert [s_["rank"] for s_ in c["stars"]] == list(range(1, len(got) + 1))


def test_flags_are_awarded_once(city):
    engine = city[0]
    with session_scope(engine) as s:
        before = s.execute(text("SELECT count(*), coalesce(sum(flags), 0) FROM flag")).first()
        assert award(s, datetime(2000, 1, 1, tzinfo=TZ)) == 0
        assert s.execute(text("SELECT count(*), coalesce(sum(flags), 0) FROM flag")).first() == before
