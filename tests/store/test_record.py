"""The whole record through imports, a re-import, a drawn and an automatic redraw: ids stay while the
ground does, codes follow parents, people and open requests follow their areas to the successors,
every old code answers in /v1/codes, and the whole-record check finds nothing."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.importers import import_areas
from gis.redraw import asked, propose
from gis.settings import Settings
from gis.store import codes, identity, integrity
from gis.store.db import session_scope
from tests.conftest import assign

COMM = "370102001001"
X0, X1, Y0, Y1 = 117.0, 117.04, 36.6, 36.62
UNIT_W = 0.005
# households of the eight units, west to east: the automatic redraw's halves (50 each) do not fall on
# the old grids' boundary, so units change grid there and must be re-coded
UNIT_HH = (10, 10, 10, 10, 10, 10, 20, 20)
RANGES = {"grid": (1, 10**6), "unit": (1, 10**6)}


def box(x0, x1):
    """A strip of the community; every edge has a vertex each UNIT_W, so shared edges match in any CRS."""
    return shapely.segmentize(shapely.box(x0, Y0, x1, Y1), UNIT_W / 2)


def write(tmp_path, name, rows):
    gdf = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                           geometry=[r["geometry"] for r in rows], crs=4326)
    path = tmp_path / name
    gdf.to_file(path)
    return path


def units():
    out = []
    for i in range(8):
        grid = COMM + ("001" if i < 4 else "002")
        out.append({"code": f"{grid}{i % 4 + 1:03d}", "name": f"第{i + 1}联户", "parent": grid,
                    "geometry": box(X0 + i * UNIT_W, X0 + (i + 1) * UNIT_W)})
    return out


def area_id(session, level, code):
    return session.execute(text("""
        SELECT ga.area_id FROM generation_area ga JOIN active_generation ag ON ag.generation_id = ga.generation_id
        WHERE ga.level = :l AND ga.code = :c"""), {"l": level, "c": code}).scalar()


def assigned_area(session, person):
    """(level, code in the active generation) of the area a person's assignment points at, or None."""
    return session.execute(text("""
        SELECT ga.level, ga.code FROM assignment s JOIN generation_area ga ON ga.area_id = s.area_id
        JOIN active_generation ag ON ag.generation_id = ga.generation_id WHERE s.person_id = :p"""),
        {"p": person}).one_or_none()


def sound(engine):
    with session_scope(engine) as s:
        out = integrity.check(s)
    assert out["ok"], out["findings"]


@pytest.fixture
def city(clean_db, tmp_path):
    """District, street, community, two grids and eight units imported from files; households from
    the registry (one entrance per unit); three people and an open request."""
    engine = clean_db
    with session_scope(engine) as s:
        for i, hh in enumerate(UNIT_HH):
            s.execute(text("INSERT INTO address (address, households, geom) VALUES (:a, :h, "
                           "ST_SetSRID(ST_MakePoint(:x, 36.61), 4326))"),
                      {"a": f"楼{i}", "h": hh, "x": X0 + (i + 0.5) * UNIT_W})
    whole = box(X0, X1)
    import_areas(engine, write(tmp_path, "d.geojson", [{"code": "370102", "name": "历下区", "geometry": whole}]),
                 "district")
    import_areas(engine, write(tmp_path, "s.geojson", [{"code": "370102001", "name": "甲街道", "geometry": whole}]),
                 "street")
    import_areas(engine, write(tmp_path, "c.geojson", [{"code": COMM, "name": "明湖社区", "geometry": whole}]),
                 "community")
    import_areas(engine, write(tmp_path, "g.geojson", [
        {"code": COMM + "001", "name": "西网格", "geometry": box(X0, 117.02)},
        {"code": COMM + "002", "name": "东网格", "geometry": box(117.02, X1)}]), "grid")
    report = import_areas(engine, write(tmp_path, "u.geojson", units()), "unit", parent_field="parent")
    assert report["recoded"] == 0
    with session_scope(engine) as s:
        people = {"west": assign(s, "王芳", None, "grid_worker", "grid", COMM + "001"),
                  "east": assign(s, "李强", None, "grid_worker", "grid", COMM + "002"),
                  "unit": assign(s, "赵敏", None, "unit_leader", "unit", COMM + "002003")}
        gid, uid = area_id(s, "grid", COMM + "002"), area_id(s, "unit", COMM + "002003")
        s.execute(text("""
            INSERT INTO request (created_at, category, matter_class, status, generation_id, grid_code, unit_code,
                                 grid_area_id, unit_area_id, geom)
            SELECT now(), '路灯', 'public', 'collected', generation_id, :g, :u, :gid, :uid,
                   ST_SetSRID(ST_MakePoint(117.0325, 36.605), 4326) FROM active_generation"""),
                  {"g": COMM + "002", "u": COMM + "002003", "gid": gid, "uid": uid})
    sound(engine)
    return engine, people


def test_reimport_of_identical_units_keeps_every_id_and_writes_nothing(city, tmp_path):
    engine, _people = city
    with session_scope(engine) as s:
        before = dict(s.execute(text("SELECT ga.code, ga.area_id FROM generation_area ga JOIN active_generation ag "
                                     "ON ag.generation_id = ga.generation_id WHERE ga.level = 'unit'")).all())
        areas = s.execute(text("SELECT count(*) FROM area")).scalar()
    report = import_areas(engine, write(tmp_path, "u2.geojson", units()), "unit", parent_field="parent")
    assert report["succeeded"] == 0 and report["recoded"] == 0 and report["replaced"] == 8
    with session_scope(engine) as s:
        after = dict(s.execute(text("SELECT ga.code, ga.area_id FROM generation_area ga JOIN active_generation ag "
                                    "ON ag.generation_id = ga.generation_id WHERE ga.level = 'unit'")).all())
        assert s.execute(text("SELECT count(*) FROM area")).scalar() == areas      # no row added
        assert s.execute(text("SELECT count(*) FROM crosswalk WHERE generation_id = :g"),
                         {"g": report["generation"]}).scalar() == 0
    assert after == before
    sound(engine)


def test_imports_and_redraws_keep_one_sound_record(city, tmp_path, pg_url):
    engine, people = city
    seen_codes: set[tuple[str, str]] = set()

    def remember():
        with session_scope(engine) as s:
            seen_codes.update(s.execute(text("""
                SELECT ga.level, ga.code FROM generation_area ga JOIN active_generation ag
                ON ag.generation_id = ga.generation_id""")).all())

    remember()
    with session_scope(engine) as s:
        unit_id = area_id(s, "unit", COMM + "002003")

    # 1. grids re-imported on new ground; one code ("W1") does not begin with its community's
    report = import_areas(engine, write(tmp_path, "g2.geojson", [
        {"code": "W1", "name": "西", "geometry": box(X0, 117.01)},
        {"code": COMM + "007", "name": "中", "geometry": box(117.01, 117.025)},
        {"code": COMM + "005", "name": "东", "geometry": box(117.025, X1)}]), "grid")
    assert report["succeeded"] == 2 and report["recoded"] >= 1
    with session_scope(engine) as s:
        # W1 took the smallest free number; units follow their new grids' codes
        assert area_id(s, "grid", "W1") is None and area_id(s, "grid", COMM + "001") is not None
        assert area_id(s, "unit", COMM + "001001") is not None      # under the re-coded W1: kept
        assert area_id(s, "unit", COMM + "002003") is None           # now under …005: re-coded
        assert s.execute(text("SELECT ga.code FROM generation_area ga JOIN active_generation ag ON "
                              "ag.generation_id = ga.generation_id WHERE ga.area_id = :a"),
                         {"a": unit_id}).scalar().startswith(COMM + "005")   # same area, a new label
        # the west grid's person: the new area with the same code; the east one: most of its ground
        assert assigned_area(s, people["west"]) == ("grid", COMM + "001")
        assert assigned_area(s, people["east"]) == ("grid", COMM + "005")
        assert assigned_area(s, people["unit"])[1].startswith(COMM + "005")   # a re-coding moves no record
        shares = dict(s.execute(text("SELECT to_code, share FROM crosswalk WHERE generation_id = :g AND "
                                     "kind = 'import' AND from_code = :c"),
                                {"g": report["generation"], "c": COMM + "002"}).all())
        assert shares.keys() == {COMM + "007", COMM + "005"}
        assert shares[COMM + "005"] == pytest.approx(0.75) and shares[COMM + "007"] == pytest.approx(0.25)
    sound(engine)
    remember()

    # 2. a drawn redraw: two grids again, halves of the community
    with session_scope(engine) as s:
        p = propose.Proposal("grid", COMM, [COMM + "001", COMM + "002"], ["西", "东"],
                             np.array([box(X0, 117.02), box(117.02, X1)], dtype=object))
        drawn = propose.propose(s, p, "test", RANGES)
    assert drawn["valid"], [(f["message"], f["geometry"]) for f in drawn["findings"]]
    assert drawn["impact"]["recoded_count"] >= 1
    with session_scope(engine) as s:
        # the draft's re-codings are not part of the record until committed
        assert codes.crosswalk_rows(s)[0]["generation"] != drawn["draft_generation"]
        propose.commit(s, drawn["id"], "test")
    with session_scope(engine) as s:
        assert assigned_area(s, people["east"]) == ("grid", COMM + "002")   # …005 wholly in the new …002
        assert assigned_area(s, people["west"]) == ("grid", COMM + "001")
        srcs = set(s.execute(text("SELECT source FROM crosswalk WHERE generation_id = :g"),
                             {"g": drawn["draft_generation"]}).scalars())
        assert srcs == {f"redraw {drawn['id']}"}
    sound(engine)
    remember()

    # 3. an automatic redraw: two grids of balanced households, whose boundary is not the old one
    with session_scope(engine) as s:
        auto = propose.propose(s, asked.auto(s, COMM, 2, (40, 60)), "test", RANGES)
    assert auto["valid"], auto["findings"]
    assert auto["impact"]["recoded_count"] >= 1          # units that changed grid, re-coded in the draft
    with session_scope(engine) as s:
        draft_units = s.execute(text("SELECT code, parent_code FROM generation_area WHERE generation_id = :g "
                                     "AND level = 'unit'"), {"g": auto["draft_generation"]}).all()
        assert all(c.startswith(p) for c, p in draft_units)
        propose.commit(s, auto["id"], "test")
    sound(engine)
    remember()

    # every code the record ever held answers, and leads to codes of the active generation
    with session_scope(engine) as s:
        ks = keys.create(s, "consumer")
        active_codes = set(s.execute(text("SELECT ga.code FROM generation_area ga JOIN active_generation ag "
                                          "ON ag.generation_id = ga.generation_id")).scalars())
        # the open request followed its areas: located where its point lies in the new grids
        req = s.execute(text("SELECT grid_area_id, unit_area_id FROM request")).one()
        assert req.grid_area_id == area_id(s, "grid", COMM + "002") and req.unit_area_id == unit_id
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        for level, code in sorted(seen_codes):
            r = c.get(f"/v1/codes/{code}", params={"level": level}, headers={"X-API-Key": ks})
            assert r.status_code == 200, (code, r.text)
            body = r.json()
            assert body["now"] and {n["code"] for n in body["now"]} <= active_codes, (code, body)
            for was in body["was"]:   # each area that bore the code: its ground is all somewhere now
                assert sum(n["share"] for n in was["now"]) == pytest.approx(1.0, abs=1e-3), (code, was)
        # a code that was only ever given in a file: re-coded on import, it answers too
        w1 = c.get("/v1/codes/W1", headers={"X-API-Key": ks}).json()
        assert w1["was"] == [] and w1["became"][0]["kind"] == "recode" and w1["became"][0]["to_code"] == COMM + "001"
        assert w1["now"] and {n["code"] for n in w1["now"]} <= active_codes
    for person in people.values():
        with session_scope(engine) as s:
            assert assigned_area(s, person) is not None


def test_recode_cascades_top_down_and_never_reuses_a_present_code(city):
    engine, people = city
    with session_scope(engine) as s:
        gen = s.execute(text("SELECT generation_id FROM active_generation")).scalar()
        grid_id = area_id(s, "grid", COMM + "001")
        # a community re-coded by hand: everything below must follow, in one transaction
        s.execute(text("UPDATE generation_area SET code = '370102001009' WHERE generation_id = :g AND level = 'community'"),
                  {"g": gen})
        s.execute(text("UPDATE generation_area SET parent_code = '370102001009' WHERE generation_id = :g "
                       "AND level = 'grid'"), {"g": gen})
        changes = codes.recode(s, gen, source="test")
        assert [c["level"] for c in changes] == ["grid"] * 2 + ["unit"] * 8         # parents first
        assert {c["to"] for c in changes if c["level"] == "grid"} == {"370102001009001", "370102001009002"}
        assert area_id(s, "grid", "370102001009001") == grid_id                      # same area, new label
        assert codes.recode(s, gen) == []                                            # nothing left to do
    sound(engine)
    with session_scope(engine) as s:
        assert assigned_area(s, people["west"]) == ("grid", "370102001009001")
        hist = codes.history(s, COMM + "001", "grid")
        assert [n["code"] for n in hist["now"]] == ["370102001009001"] and hist["now"][0]["share"] == 1.0
        assert hist["became"][0]["kind"] == "recode"
    taken = {"A001", "A002", "A004"}
    assert codes.next_codes(["A", "A", "B"], taken, 3) == ["A003", "A005", "B001"]
    with pytest.raises(codes.CodeError, match="no free"):
        codes.next_codes(["Z"], {f"Z{n}" for n in range(1, 10)}, 1)


def test_check_finds_a_broken_record(city):
    engine, people = city
    with session_scope(engine) as s:
        gen = s.execute(text("SELECT generation_id FROM active_generation")).scalar()
        s.execute(text("UPDATE generation_area SET code = '999' WHERE generation_id = :g AND code = :c"),
                  {"g": gen, "c": COMM + "002003"})
        old = s.execute(text("SELECT id FROM area WHERE level = 'grid' ORDER BY id LIMIT 1")).scalar()
        s.execute(text("DELETE FROM generation_area WHERE generation_id = :g AND area_id = :a"), {"g": gen, "a": old})
        out = integrity.check(s)
        s.rollback()
    kinds = {f["kind"]: f for f in out["findings"]}
    assert not out["ok"] and {"code_prefix", "assignment_area"} <= kinds.keys()
    assert kinds["code_prefix"]["examples"] == [f"unit 999 (parent {COMM}002)"]
    sound(engine)


def test_recode_follows_every_grid_tier_with_its_digits(clean_db):
    """A two-tier city (大网格 +3, 小网格 +2): a big grid re-coded by hand carries its small grids (two
    digits) and their units (three) with it; small grid codes stay unique across tiers."""
    from gis.store import bulk, generations
    from gis.store.tiers import set_tiers

    whole = shapely.box(X0, Y0, X1, Y1)
    rows = [("district", "370102", None, None, None, whole), ("street", "370102001", "370102", None, None, whole),
            ("community", COMM, "370102001", None, None, whole),
            ("grid", COMM + "001", COMM, 1, "community", whole),
            ("grid", COMM + "00101", COMM + "001", 2, "grid", box(X0, 117.02)),
            ("grid", "X", COMM + "001", 2, "grid", box(117.02, X1)),          # does not follow its parent
            ("unit", COMM + "00101001", COMM + "00101", None, "grid", box(X0, 117.01)),
            ("unit", COMM + "00101002", "X", None, "grid", box(117.02, 117.03))]
    with session_scope(clean_db) as s:
        set_tiers(s, [("大网格", 3, False), ("小网格", 2, False)])
        gen = generations.create(s, source="test")
        conn = s.connection().connection.driver_connection
        bulk.write_areas(conn, gen, [r[0] for r in rows], [r[1] for r in rows], [r[0] for r in rows],
                         [r[2] for r in rows], [0] * len(rows), [r[5] for r in rows],
                         tiers=[r[3] for r in rows], parent_levels=[r[4] for r in rows])
        generations.activate(s, gen)
        changes = codes.recode(s, gen, source="test")
        # the small grid X takes the next free two-digit number; its unit follows with three digits
        assert [(c["level"], c["from"], c["to"]) for c in changes] == [
            ("grid", "X", COMM + "00102"), ("unit", COMM + "00101002", COMM + "00102001")]
    sound(clean_db)


def test_rollback_brings_people_back_without_a_crosswalk(city, tmp_path):
    """Making the earlier generation active again and re-pointing (record=False) puts each person on an
    area that generation holds, and writes no crosswalk row."""
    from gis.store import generations

    engine, people = city
    with session_scope(engine) as s:
        before = s.execute(text("SELECT generation_id FROM active_generation")).scalar()
    report = import_areas(engine, write(tmp_path, "g3.geojson", [
        {"code": COMM + "003", "name": "南", "geometry": shapely.box(X0, Y0, X1, 36.61)},
        {"code": COMM + "004", "name": "北", "geometry": shapely.box(X0, 36.61, X1, Y1)}]), "grid")
    sound(engine)
    with session_scope(engine) as s:
        rows = s.execute(text("SELECT count(*) FROM crosswalk")).scalar()
        generations.activate(s, before)
        out = identity.succeed(s, report["generation"], before, "grid", record=False)
        assert out["replaced"] == 2 and out["crosswalk"] == 0
        assert s.execute(text("SELECT count(*) FROM crosswalk")).scalar() == rows
        # by ground: the south grid (both had gone to it, on a tie) goes back to its first successor;
        # a rollback puts people on areas the generation holds, not necessarily their old ones
        assert assigned_area(s, people["west"]) == assigned_area(s, people["east"]) == ("grid", COMM + "001")
    sound(engine)
