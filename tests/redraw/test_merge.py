"""Merging networks (多网合一): the overlay's pure functions on small shapes, and a merge of three
overlapping source networks of the demo city (party-building, governance, emergency) that reports
their disagreements where they are, proposes one valid network, commits, and answers every source code
in the crosswalk."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from gis.redraw import merge_overlay as ov
from gis.redraw.merge import MergeError, Source, check_sources, source_from_features


# -- pure overlay functions ------------------------------------------------------------------------
def boxes(*bs):
    return np.array([shapely.box(*b) for b in bs], dtype=object)


def layer(label, *bs):
    return ov.Layer(label, [f"{label}{i + 1}" for i in range(len(bs))], boxes(*bs))


def test_thin_tells_strips_from_ground():
    got = ov.thin(boxes((0, 0, 3, 500), (0, 0, 50, 50), (0, 0, 9.9, 1000), (0, 0, 10.5, 1000)), 10.0)
    assert got.tolist() == [True, False, True, False]


def test_shifted_boundary_is_a_sliver_and_agreement_is_within_tolerance():
    a = layer("A", (0, 0, 100, 100), (100, 0, 200, 100))
    b = layer("B", (0, 0, 103, 100), (103, 0, 200, 100))          # the shared edge moved 3 m
    found = ov.slivers_and_splits(a, b)
    slivers = [d for d in found if d["kind"] == "sliver"]
    assert [d["codes"] for d in slivers] == [["A2", "B1"]]
    assert slivers[0]["where"].bounds == pytest.approx((100, 0, 103, 100))
    assert not [d for d in found if d["kind"] == "split"]            # a 3 m strip splits nothing
    assert ov.agreement(a.geoms, b.geoms).tolist() == [0, 1]         # IoU 0.97: the same areas
    assert ov.agreement(a.geoms, b.geoms, iou=0.99).tolist() == [-1, -1]


def test_an_area_drawn_as_two_is_a_split_both_ways_round():
    a = layer("A", (0, 0, 200, 100))
    b = layer("B", (0, 0, 100, 100), (100, 0, 200, 100), (200, 0, 300, 100))
    splits = [d for d in ov.slivers_and_splits(a, b) if d["kind"] == "split"]
    assert [d["codes"] for d in splits] == [["A1", "B1", "B2"]]
    assert splits[0]["sources"] == ["A", "B"]


def test_uncovered_ground_and_thin_gaps():
    a = layer("A", (0, 0, 100, 100), (100, 0, 200, 100))
    b = layer("B", (0, 0, 98, 100), (100, 0, 150, 100))              # a 2 m gap, and 50 m not covered
    found = ov.uncovered(a, b)
    kinds = sorted((d["kind"], tuple(d["codes"])) for d in found)
    assert kinds == [("sliver", ("A1",)), ("uncovered", ("A2",))]
    gap = next(d for d in found if d["kind"] == "uncovered")
    assert gap["where"].area == pytest.approx(5000)
    assert ov.uncovered(b, a) == []                                   # b covers nothing a does not


def test_households_counted_twice_or_not_at_all():
    a = layer("A", (0, 0, 100, 100), (90, 0, 200, 100))              # overlap 90..100
    pts = np.array([[95.0, 50.0], [50.0, 50.0], [300.0, 50.0], [150.0, 50.0]])
    found = ov.household_counts(a, shapely.points(pts), np.array([7, 3, 4, 5]), pts)
    twice = next(d for d in found if d["kind"] == "double_counted")
    none = next(d for d in found if d["kind"] == "not_counted")
    assert twice["codes"] == ["A1", "A2"] and twice["households"] == 7
    assert none["households"] == 4 and none["points"].tolist() == [[300.0, 50.0]]


def test_agreed_needs_a_majority_and_claim_rebuilds_kept_shapes_from_atoms():
    a = layer("A", (0, 0, 100, 100), (100, 0, 200, 100))
    b = layer("B", (0, 0, 101, 100), (101, 0, 200, 100))
    c = layer("C", (0, 0, 200, 100))                                  # coarser: agrees with nothing
    got = ov.agreed([a, b, c])
    assert [(x, i) for x, i, _m in got] == [(0, 0), (0, 1)]           # each shape once, from A
    assert got[0][2].tolist() == [0, 0, -1]
    assert ov.agreed([a, c]) == []                                    # two sources: both must agree
    atoms = boxes(*[(x, 0, x + 50, 100) for x in range(0, 200, 50)])
    assert ov.claim(atoms, a.geoms).tolist() == [0, 0, 1, 1]
    assert ov.claim(atoms, boxes((0, 0, 120, 100))).tolist() == [-1, -1, -1, -1]  # 3 atoms ≠ 120 m


def test_shares_are_parts_of_the_source_ground():
    src = boxes((0, 0, 100, 100), (500, 500, 501, 501))
    merged = boxes((0, 0, 30, 100), (30, 0, 200, 100))
    i, j, share = ov.shares(src, merged)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 0), (0, 1)]
    assert share.tolist() == pytest.approx([0.3, 0.7])


def test_sources_are_checked_naming_the_field():
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "X1"},
          "geometry": shapely.geometry.mapping(shapely.box(117, 36.6, 117.01, 36.61))}]}
    s = source_from_features("party", fc)
    assert s.codes == ["X1"]
    with pytest.raises(MergeError, match="sources"):
        check_sources([s])
    with pytest.raises(MergeError, match="given twice"):
        check_sources([s, Source("party", ["Y"], ["Y"], s.geoms)])
    with pytest.raises(MergeError, match=r"sources\[bad\].features\[0\]"):
        source_from_features("bad", {"type": "FeatureCollection", "features": [{"type": "Feature"}]})
    nocode = {"type": "FeatureCollection", "features": [dict(fc["features"][0], properties={"name": "n"})]}
    with pytest.raises(MergeError, match="code"):
        source_from_features("nocode", nocode)
    long = {"type": "FeatureCollection", "features": [dict(fc["features"][0], properties={"code": "9" * 65})]}
    with pytest.raises(MergeError, match="code is not 1 to 64 printable"):
        source_from_features("long", long)
    with pytest.raises(MergeError, match="label"):
        check_sources([s, Source("a\x00b", ["Y"], ["Y"], s.geoms)])
    far = {"type": "FeatureCollection", "features": [dict(fc["features"][0], geometry=shapely.geometry.mapping(
        shapely.box(500000, 4000000, 500100, 4000100)))]}
    with pytest.raises(MergeError, match="longitudes"):
        source_from_features("utm", far)


# -- three source networks of the demo city -----------------------------------------------------------
def _metric(geoms):
    return gpd.GeoSeries(list(geoms), crs=4326).to_crs(32650).values


def _ll(geoms_m):
    return gpd.GeoSeries(list(geoms_m), crs=32650).to_crs(4326).values


def _neighbours(geoms_m, parents):
    """Pairs of grids of one community that share a long edge."""
    tree = shapely.STRtree(geoms_m)
    a, b = tree.query(geoms_m, predicate="intersects")
    return [(i, j) for i, j in zip(a, b) if i < j and parents[i] == parents[j]
            and shapely.intersection(geoms_m[i].boundary, geoms_m[j].boundary).length > 150]


def _fc(codes, geoms_ll):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": f"{c}名"}, "geometry": json.loads(shapely.to_geojson(g))}
        for c, g in zip(codes, geoms_ll)]}


@pytest.fixture(scope="module")
def city(engine):
    """The small demo city and three source networks drawn from its grids (see the module docstring)."""
    from gis.store import queries
    from tests.conftest import fresh_demo

    fresh_demo(engine)
    with engine.connect() as conn:
        gen = queries.active_generation(conn)
        grids = queries.level_areas(conn, gen, "grid")
        addr = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM address WHERE households > 0 ORDER BY id")).all()
    codes = [g.code for g in grids]
    parents = [g.parent_code for g in grids]
    geoms_ll = shapely.from_wkb([bytes(g.wkb) for g in grids])
    gm = _metric(geoms_ll)
    pts = _metric(shapely.points(np.array(addr)))
    pairs = _neighbours(gm, parents)
    comms = sorted(set(parents))
    # governance: two neighbours merged (community A), a boundary moved 60 m (community B), and a grid
    # grown 40 m into its neighbour that keeps its ground (an overlap holding addresses; community C)
    merged = next(p for p in pairs if parents[p[0]] == comms[0])
    moved = next(p for p in pairs if parents[p[0]] == comms[1])
    tree = shapely.STRtree(pts)
    grown = next(p for p in pairs if parents[p[0]] == comms[2]
                 and len(tree.query(shapely.intersection(gm[p[1]], shapely.buffer(gm[p[0]], 40)),
                                    predicate="contains")) >= 2)
    gov = {}
    for i, g in enumerate(gm):
        gov[f"G{i:03d}"] = g
    gov[f"G{merged[0]:03d}"] = shapely.union_all([gm[merged[0]], gm[merged[1]]])
    del gov[f"G{merged[1]:03d}"]
    strip = shapely.intersection(gm[moved[1]], shapely.buffer(gm[moved[0]], 60))
    gov[f"G{moved[0]:03d}"] = shapely.union_all([gm[moved[0]], strip])
    gov[f"G{moved[1]:03d}"] = ov.polygonal(shapely.difference(gm[moved[1]], shapely.buffer(gm[moved[0]], 60)))
    gov[f"G{grown[0]:03d}"] = shapely.union_all([gm[grown[0]],
                                               shapely.intersection(gm[grown[1]], shapely.buffer(gm[grown[0]], 40))])
    # emergency: one area per community; community D's boundary with E moved 3 m (a sliver), and a
    # 160 m hole around an address in community F (a gap: ground and households in no emergency area)
    comm_geoms = {c: shapely.union_all(gm[[i for i in range(len(gm)) if parents[i] == c]]) for c in comms}
    emer = {f"E{n + 1}": comm_geoms[c] for n, c in enumerate(comms)}
    d_e = [(x, y) for x in range(len(comms)) for y in range(x + 1, len(comms))
           if shapely.intersection(comm_geoms[comms[x]].boundary, comm_geoms[comms[y]].boundary).length > 150]
    sx, sy = d_e[0]
    sliver = shapely.intersection(comm_geoms[comms[sy]], shapely.buffer(comm_geoms[comms[sx]], 3))
    emer[f"E{sx + 1}"] = shapely.union_all([emer[f"E{sx + 1}"], sliver])
    emer[f"E{sy + 1}"] = ov.polygonal(shapely.difference(emer[f"E{sy + 1}"], shapely.buffer(comm_geoms[comms[sx]], 3)))
    hole_comm = comms[-1]
    inside = np.flatnonzero(shapely.contains(comm_geoms[hole_comm], pts))
    centre = pts[inside[len(inside) // 2]]
    hole = shapely.intersection(shapely.buffer(centre, 80, cap_style="square"),
                                shapely.buffer(comm_geoms[hole_comm], -20))
    e_hole = f"E{len(comms)}"
    emer[e_hole] = ov.polygonal(shapely.difference(emer[e_hole], hole))
    from gis.store.db import session_scope
    from tests.conftest import assign

    from gis.store import integrity

    with session_scope(engine) as s:  # people on grids the merge redraws and on one it keeps
        for code in (codes[merged[0]], codes[moved[1]], codes[-1]):
            assign(s, f"网格员{code[-3:]}", "13900000000", "grid_worker", "grid", code)
        record = {f["kind"]: f["count"] for f in integrity.check(s, gen)["findings"]}
        units = s.execute(text("SELECT count(*) FROM generation_area WHERE generation_id = :g AND level = 'unit'"),
                          {"g": gen}).scalar()
    return {
        "party": _fc(codes, geoms_ll),
        "governance": _fc(list(gov), _ll(list(gov.values()))),
        "emergency": _fc(list(emer), _ll(list(emer.values()))),
        "codes": codes, "merged": [codes[i] for i in merged], "merged_gov": f"G{merged[0]:03d}",
        "grown_gov": sorted([f"G{grown[0]:03d}", f"G{grown[1]:03d}"]),
        "sliver_at": _ll([sliver])[0], "sliver_e": sorted([f"E{sx + 1}", f"E{sy + 1}"]),
        "hole": _ll([hole])[0], "e_hole": e_hole, "generation": gen, "record": record, "units": units,
    }


def _hits(d, geom) -> bool:
    return d["geometry"] is not None and shapely.geometry.shape(d["geometry"]).buffer(1e-6).intersects(geom)


@pytest.fixture(scope="module")
def merged(city, engine):
    from gis.redraw.merge import propose_merge
    from gis.store.db import session_scope

    sources = [source_from_features(k, city[k]) for k in ("party", "governance", "emergency")]
    with session_scope(engine) as s:
        return propose_merge(s, sources, None, "test", {"grid": (300, 500)})


def test_merge_reports_every_kind_of_disagreement_where_it_is(city, merged):
    d = merged["disagreements"]
    kinds = {x["kind"] for x in d}
    assert {"sliver", "split", "uncovered", "double_counted", "not_counted"} <= kinds
    split = [x for x in d if x["kind"] == "split" and x["codes"][0] == city["merged_gov"]
             and x["sources"] == ["governance", "party"]]
    assert split and sorted(split[0]["codes"][1:]) == sorted(city["merged"])
    slivers = [x for x in d if x["kind"] == "sliver" and "emergency" in x["sources"] and _hits(x, city["sliver_at"])]
    assert slivers and any(sorted(set(x["codes"]) & set(city["sliver_e"])) for x in slivers)
    gap = [x for x in d if x["kind"] == "uncovered" and x["sources"][1:] == ["emergency"] and _hits(x, city["hole"])]
    assert gap and {tuple(x["sources"]) for x in gap} >= {("party", "emergency"), ("governance", "emergency")}
    assert all(shapely.geometry.shape(x["geometry"]).area == pytest.approx(city["hole"].area, rel=0.02) for x in gap)
    twice = [x for x in d if x["kind"] == "double_counted"]
    assert [x["codes"] for x in twice if x["sources"] == ["governance"]] == [city["grown_gov"]]
    assert all(x["households"] > 0 for x in twice)
    lost = [x for x in d if x["kind"] == "not_counted"]
    assert [x["sources"] for x in lost] == [["emergency"]]
    assert shapely.geometry.shape(lost[0]["geometry"]).within(city["hole"].buffer(1e-6))
    assert all(x["message"] and x["severity"] == "warning" for x in d)


def test_merge_proposes_a_valid_network_that_commits_with_a_crosswalk(city, merged, engine):
    from gis.redraw import propose
    from gis.store import queries
    from gis.store.db import session_scope

    assert merged["valid"], [f for f in merged["findings"] if f["severity"] == "error"]
    assert merged["impact"]["kept"] > 0 and merged["impact"]["redrawn"] > 0
    with session_scope(engine) as s:
        gen = propose.commit(s, merged["id"], "test")
    with engine.connect() as conn:
        assert queries.active_generation(conn) == gen
        grids = queries.level_areas(conn, gen, "grid")
        units = queries.level_areas(conn, gen, "unit")
        comms = queries.level_areas(conn, gen, "community")
        rows = conn.execute(text("""
            SELECT c.source, c.from_code, c.to_code, c.to_area_id, c.share, ga.code AS now_code
            FROM crosswalk c LEFT JOIN generation_area ga ON ga.generation_id = c.generation_id
              AND ga.area_id = c.to_area_id AND ga.level = 'grid'
            WHERE c.kind = 'merge' AND c.generation_id = :g"""), {"g": gen}).all()
    # every grid nests in its community with a code that follows it; every unit has a grid of this generation
    codes = {g.code: g for g in grids}
    assert all(g.code.startswith(g.parent_code) and len(g.code) == len(g.parent_code) + 3 for g in grids)
    assert len(units) == city["units"] and {u.parent_code for u in units} <= set(codes)
    for c in comms:
        mine = shapely.from_wkb([bytes(g.wkb) for g in grids if g.parent_code == c.code])
        assert shapely.union_all(mine).symmetric_difference(shapely.from_wkb(bytes(c.wkb))).area < 1e-9
    # the shapes the sources agree on are kept with their codes; the merged pair is redrawn
    party = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in city["party"]["features"]}
    same = {c for c, g in party.items() if c in codes and
            shapely.from_wkb(bytes(codes[c].wkb)).symmetric_difference(g).area < 1e-3 * g.area}
    assert len(same) >= len(party) // 2                       # agreed shapes kept, under their own codes
    assert same >= set(merged["impact"]["kept_codes"]) and not set(city["merged"]) & set(merged["impact"]["kept_codes"])
    assert len(merged["impact"]["redrawn_codes"]) == merged["impact"]["redrawn"] >= 2   # where the sources disagree
    # every source code answers in the crosswalk, pointing at grids of the committed generation
    for label in ("party", "governance", "emergency"):
        src = {f["properties"]["code"] for f in city[label]["features"]}
        mine = [r for r in rows if r.source == label]
        assert {r.from_code for r in mine} == src
        assert all(r.now_code == r.to_code and 0 < r.share <= 1 for r in mine)
        by_code = {}
        for r in mine:
            by_code[r.from_code] = by_code.get(r.from_code, 0) + r.share
        assert min(by_code.values()) > 0.9                     # nearly all of each source area's ground
    # the whole record holds: codes follow parents, and the merge leaves no person or request on an area
    # the new generation does not hold (beyond what the record had before it)
    from gis.store import integrity
    from gis.store.codes import history

    with session_scope(engine) as s:
        after = {f["kind"]: f["count"] for f in integrity.check(s, gen)["findings"]}
        assert not {"code_prefix", "missing_parent"} & set(after), after
        assert all(n <= city["record"].get(kind, 0) for kind, n in after.items()), (after, city["record"])
        placed = s.execute(text("""
            SELECT count(*) FROM assignment a JOIN person p ON p.id = a.person_id
            JOIN generation_area ga ON ga.area_id = a.area_id AND ga.generation_id = :g
            WHERE p.name LIKE '网格员%' AND ga.level = 'grid'"""), {"g": gen}).scalar()
        assert placed == 3                                    # the three people followed their grids
        for label in ("party", "governance", "emergency"):   # what /v1/codes/{code} answers
            for f in city[label]["features"]:
                became = [b for b in history(s, f["properties"]["code"], "grid")["became"] if b["kind"] == "merge"]
                assert became and all(b["to_code"] in codes for b in became), f["properties"]["code"]
    p_kept = [r for r in rows if r.source == "party" and r.from_code in same]
    assert all(r.to_code == r.from_code and r.share > 0.99 for r in p_kept if r.share > 0.5)


def test_merge_through_the_api_and_the_command_line(city, engine, pg_url, tmp_path, monkeypatch):
    import subprocess
    import sys

    from api.app import create_app
    from gis import keys
    from gis.settings import Settings
    from gis.store.db import session_scope

    with session_scope(engine) as s:
        ks = {r: keys.create(s, r) for r in ("consumer", "planner")}
        comm = s.execute(text("SELECT code FROM generation_area ga JOIN active_generation ag "
                              "ON ag.generation_id = ga.generation_id WHERE level = 'community' "
                              "ORDER BY code LIMIT 1")).scalar()
    body = {"level": "grid", "parent": comm, "sources": [
        {"name": k, "features": city[k]} for k in ("party", "governance", "emergency")]}
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        assert c.post("/v1/merges", json=body, headers={"X-API-Key": ks["consumer"]}).status_code == 403
        r = c.post("/v1/merges", json=body, headers={"X-API-Key": ks["planner"]})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["scope"] == [comm] and out["id"]
        assert {"split", "uncovered"} & {d["kind"] for d in out["disagreements"]}
        page = c.get(f"/maps/redraws/{out['id']}", params={"api_key": ks["planner"]})
        assert page.status_code == 200 and "split" in page.text
        bad = c.post("/v1/merges", json={"sources": body["sources"][:1]}, headers={"X-API-Key": ks["planner"]})
        assert bad.status_code == 422 and "sources" in bad.text
        for wrong, field in (({**body, "parent": "37\x0001"}, "parent"), ({**body, "parent": "999"}, "parent"),
                             ({**body, "level": "unit"}, "level"), ({"sources": "x"}, "sources"),
                             ({"sources": [{"name": "a", "features": {}}, {"name": "b"}]}, "sources[a].features")):
            r = c.post("/v1/merges", json=wrong, headers={"X-API-Key": ks["planner"]})
            assert r.status_code == 422 and field in r.text and "Traceback" not in r.text, r.text
        files = [("files", (f"{k}.geojson", json.dumps(city[k]).encode(), "application/geo+json"))
                 for k in ("party", "emergency")]
        r = c.post("/v1/merges", files=files, data={"parent": comm}, headers={"X-API-Key": ks["planner"]})
        assert r.status_code == 200, r.text
        assert [s["label"] for s in r.json()["sources"]] == ["party", "emergency"]
    paths = []
    for k in ("party", "governance"):
        p = tmp_path / f"{k}.geojson"
        p.write_text(json.dumps(city[k]))
        paths.append(str(p))
    env = dict(__import__("os").environ, WANGGE_DATABASE_URL=pg_url)
    run = subprocess.run([sys.executable, "-m", "api.cli", "merge", *paths, "--level", "grid", "--parent", comm,
                          "--name-of", f"{paths[0]}=党建网格", "--code-field", f"{paths[1]}=code", "--json"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode in (0, 3), run.stderr
    got = json.loads(run.stdout)
    assert [s["label"] for s in got["sources"]] == ["党建网格", "governance"] and got["scope"] == [comm]
    run = subprocess.run([sys.executable, "-m", "api.cli", "merge", paths[0], "--json"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode != 0 and "sources" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "api.cli", "merge", *paths, "--code-field", "编号", "--json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0 and "编号" in run.stderr and "Traceback" not in run.stderr



def test_merge_bodies_over_the_limits_are_refused_before_they_are_read(city, engine, pg_url):
    from api.app import create_app
    from gis import keys
    from gis.settings import Settings
    from gis.store.db import session_scope

    with session_scope(engine) as s:
        key = keys.create(s, "planner")
    body = {"sources": [{"name": k, "features": city[k]} for k in ("party", "governance")]}
    with TestClient(create_app(Settings(database_url=pg_url, max_body_mb=0.01, max_upload_mb=0.01))) as c:
        r = c.post("/v1/merges", json=body, headers={"X-API-Key": key})
        assert r.status_code == 413 and "WANGGE_MAX_BODY_MB" in r.text
        files = [("files", (f"{k}.geojson", json.dumps(city[k]).encode(), "application/geo+json"))
                 for k in ("party", "governance")]
        r = c.post("/v1/merges", files=files, headers={"X-API-Key": key})
        assert r.status_code == 413 and "WANGGE_MAX_UPLOAD_MB" in r.text
        r = c.post("/v1/merges", json=body)
        assert r.status_code == 401
