"""The geocoder on the small demo registry: each normalisation rule, each failure mode."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis.address.text import cn_to_int, normalize, numbers
from gis.store.db import session_scope
from gis.store.generations import active_id
from gis.address.geocode import load_geocoder
from gis.locate.engine import build_engine
from gis.settings import Settings
from tests.conftest import fresh_demo


@pytest.mark.parametrize("raw,expected", [
    ("解放路１２３号", "解放路123号"), ("锦绣花园 5栋，2单元。", "锦绣花园5栋2单元"),
    ("锦绣花园十二栋三单元", "锦绣花园12栋3单元"), ("锦绣花园5号楼", "锦绣花园5栋"), ("锦绣花园5幢", "锦绣花园5栋"),
    ("锦绣花园5座", "锦绣花园5栋"), ("我家在锦绣花园5栋附近", "锦绣花园5栋"), ("地址：解放路1号门口", "解放路1号"), ("锦绣花园5号楼下", "锦绣花园5栋"),
    ("一百零五号", "105号"),
])
def test_normalisation_rules(raw, expected):
    assert normalize(raw) == expected


def test_numbers_and_numerals():
    assert cn_to_int("二十三") == 23 and cn_to_int("一百零五") == 105 and cn_to_int("十") == 10
    assert numbers("解放路123号附5号锦绣花园5栋2单元601室") == {
        "house_number": "123附5", "building": "5", "unit": "2", "room": "601"}


@pytest.fixture(scope="module")
def gc(engine):
    report = fresh_demo(engine)
    with session_scope(engine) as s:
        gen = active_id(s)
    geocoder = load_geocoder(engine, build_engine(engine, gen))
    geocoder.keys = report["keys"]
    return geocoder


def pick(gc, i=100):
    import re
    a = gc.r.address[i]
    m = re.match(r"山东省济南市历下区(.+?街道)(.+?社区)(.+?(?:路|街|大道|巷))(\d+)号(.+?)(\d+)栋(\d+)单元", a)
    return a, m.groups()


def test_exact_and_partial_prefixes(gc):
    a, (street, comm, road, num, estate, b, u) = pick(gc)
    for q in (a, a.replace("山东省济南市", ""), f"{comm}{road}{num}号{estate}{b}栋{u}单元", f"{road}{num}号{estate}{b}栋{u}单元"):
        r = gc.geocode(q)
        assert r["confident"] and r["candidates"][0]["address"] == a and r["candidates"][0]["level"] == "unit", q
        assert r["candidates"][0]["grid"] and 0 < r["candidates"][0]["score"] <= 1


def test_how_people_type(gc):
    a, (street, comm, road, num, estate, b, u) = pick(gc, 300)
    cn = "零一二三四五六七八九"
    typed = [
        f"我家在{road}{num}号{estate}{b}号楼{u}单元附近",
        f"{road}{num}号 {estate} {b}幢 {u}单元".replace("0", "０").replace("1", "１"),
        f"{estate}{b}栋{u}单元",                                           # no road at all
        f"{road}{num}号{estate[:-2] if estate.endswith('小区') or estate.endswith('花园') else estate}{b}栋{u}单元",
    ]
    if int(u) < 10:
        typed.append(f"{road}{num}号{estate}{b}栋{cn[int(u)]}单元")
    for q in typed:
        r = gc.geocode(q)
        assert r["candidates"] and r["candidates"][0]["address"] == a, q
        assert r["confident"], q


def test_one_character_typo_in_road(gc):
    a, (street, comm, road, num, estate, b, u) = pick(gc, 500)
    wrong = road[0] + ("中" if road[1] != "中" else "钟") + road[2:]
    r = gc.geocode(f"{wrong}{num}号{estate}{b}栋{u}单元")
    assert r["candidates"][0]["address"] == a


def test_missing_house_number_falls_back_to_road_never_a_building(gc):
    a, (street, comm, road, num, estate, b, u) = pick(gc, 700)
    r = gc.geocode(f"{road}9999号")
    top = r["candidates"][0]
    assert top["level"] == "road" and r["confident"] is False and top["address"] == road
    r = gc.geocode(f"{road}{num}号{estate}999栋1单元")  # a building the estate does not have
    assert all(c["level"] not in ("unit", "building") for c in r["candidates"]) and not r["confident"]


def test_nonsense_is_not_confident(gc):
    for q in ("", "火星基地", "12345"):
        r = gc.geocode(q)
        assert not r["confident"]


def test_api_geocode_batch_and_reverse(gc, pg_url):
    a, _ = pick(gc, 42)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        h = {"X-API-Key": gc.keys["consumer"]}
        body = c.get("/v1/geocode", params={"q": a}, headers=h).json()
        assert body["confident"] and body["candidates"][0]["address"] == a
        batch = c.post("/v1/geocode", json={"addresses": [a, "火星基地"]}, headers=h).json()["results"]
        assert batch[0]["confident"] and not batch[1]["confident"]
        assert c.post("/v1/geocode", json={"addresses": ["x"] * 10_001}, headers=h).status_code == 413
        top = body["candidates"][0]
        rev = c.get("/v1/reverse", params={"lon": top["lon"], "lat": top["lat"]}, headers=h).json()
        assert rev["address"] == a and rev["distance_m"] < 0.01
        assert (e422 := c.get("/v1/geocode", params={"q": ""}, headers=h)).status_code == 422 and e422.json()["errors"][0]["field"] == "q"


def test_locate_by_address(gc, pg_url):
    a, _ = pick(gc, 77)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        h = {"X-API-Key": gc.keys["consumer"]}
        body = c.get("/v1/locate", params={"address": a}, headers=h).json()
        assert body["found"] and body["geocode"]["confident"] and body["geocode"]["candidate"]["address"] == a
        assert body["grid"]["code"] == body["geocode"]["candidate"]["grid"]
        none = c.get("/v1/locate", params={"address": "火星基地"}, headers=h).json()
        assert none["found"] is False and none["geocode"]["candidate"] is None
        assert (e422 := c.get("/v1/locate?lon=117", headers=h)).status_code == 422 and e422.json()["errors"][0]["field"] == "lat"


def test_reverse_answers_only_within_the_limit(gc, pg_url):
    """Beyond WANGGE_REVERSE_MAX_M the answer is 404 naming the nearest distance; within it, the score
    falls with the distance (1 at the address)."""
    import numpy as np

    from gis.address.geocode import NoAddressNear

    i = 10
    lon, lat = float(gc.r.lon[i]), float(gc.r.lat[i])
    exact = gc.nearest(lon, lat, 250)
    assert exact["score"] == 1.0 and exact["distance_m"] < 0.01
    k = 1 / (111_320 * np.cos(np.radians(lat)))
    # a point whose nearest address is well inside 250 m, and one that has none within 250 m
    scores = []
    for dx in (5, 30, 60, 100):
        hit = gc.nearest(lon + dx * k, lat, 250)
        assert 0 <= hit["score"] < 1 and hit["distance_m"] > 0
        assert abs(hit["score"] - (1 - hit["distance_m"] / 250)) < 0.002
        scores.append((hit["distance_m"], hit["score"]))
    assert [s for _, s in sorted(scores)] == sorted((s for _, s in scores), reverse=True)
    with pytest.raises(NoAddressNear) as far:
        gc.nearest(0.0, 0.0, 250)
    assert far.value.distance_m > 10_000_000
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        h = {"X-API-Key": gc.keys["consumer"]}
        r = c.get("/v1/reverse", params={"lon": 0, "lat": 0}, headers=h)
        assert r.status_code == 404
        assert r.json()["detail"].startswith("no address within 250 m of this point (the nearest is ")
    # both sides of the limit for one point: a limit just above its nearest address's distance, and
    # just below it
    q = {"lon": lon, "lat": lat + 40 / 111_320}
    d_out = gc.nearest(q["lon"], q["lat"], None)["distance_m"]
    assert d_out > 2
    with TestClient(create_app(Settings(database_url=pg_url, reverse_max_m=d_out + 1))) as c:
        ok = c.get("/v1/reverse", params=q, headers=h)
        assert ok.status_code == 200 and ok.json()["distance_m"] == d_out and 0 <= ok.json()["score"] < 0.1
    with TestClient(create_app(Settings(database_url=pg_url, reverse_max_m=d_out - 1))) as c:
        no = c.get("/v1/reverse", params=q, headers=h)
        assert no.status_code == 404 and f"within {d_out - 1:g} m" in no.json()["detail"]


def test_a_batch_address_is_bounded_as_on_get(gc, pg_url):
    """A 200,000-character address in a batch answers 422 naming its index, not a 0.98 echo."""
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        h = {"X-API-Key": gc.keys["consumer"]}
        r = c.post("/v1/geocode", json={"addresses": ["解放路1号", "路" * 200_000]}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "addresses[1]"
        assert "over the limit of 200" in r.json()["detail"] and len(r.content) < 1000
        assert c.get("/v1/geocode", params={"q": "路" * 201}, headers=h).status_code == 422
        assert c.post("/v1/geocode", json={"addresses": ["路" * 200]}, headers=h).status_code == 200
