"""Addresses as a pinyin keyboard types them, on a southwestern registry stored in PostGIS: homophones,
dialect folds, polyphonic place names, room numbers, filler words — and nothing only when no place is named."""
from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from gis.address.geocode import Geocoder, load_geocoder
from gis.address.pinyin import FoldError, PinyinIndex, parse_folds, readings
from gis.address.text import normalize, numbers
from gis.settings import Settings
from tests.conftest import wipe

PREFIX = "贵州省贵阳市云岩区中华南路街道黔灵社区"
ROADS = {  # road → (estate, house numbers)
    "建设路": ("锦绣花园", range(1, 21)),
    "南湖路": ("阳光小区", range(1, 11)),
    "六安路": ("翠柳苑", range(1, 11)),
    "箭射路": ("金桥家园", range(100, 106)),  # jiàn shè lù as well: a homophone of 建设路 in the registry itself
    "兰湖路": ("春晖苑", range(50, 53)),  # lán hú lù: 南湖路 once the southwest folds apply, and a real road
}


def address(road, n, unit):
    estate = ROADS[road][0]
    return f"{PREFIX}{road}{n}号{estate}{n}栋{unit}单元"


@pytest.fixture(scope="module")
def registry(engine):
    """The registry stored: every road's numbers, each one building of the road's estate, two units."""
    wipe(engine)
    rows = [{"a": address(road, n, u), "x": 106.70 + k * 0.01 + n * 1e-4, "y": 26.58 + u * 1e-5}
            for k, (road, (_, nums)) in enumerate(ROADS.items()) for n in nums for u in (1, 2)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO address (address, households, geom) "
                          "VALUES (:a, 10, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), rows)
    yield engine
    wipe(engine)


@pytest.fixture(scope="module")
def sw(registry):
    """The geocoder with the southwestern folds (n/l, f/h, -n/-ng, z/zh, c/ch, s/sh)."""
    return load_geocoder(registry, None, "southwest")


@pytest.fixture(scope="module")
def plain(registry):
    """The geocoder with no dialect folds: toneless pinyin only."""
    return load_geocoder(registry, None, "none")


def top(answer):
    return answer["candidates"][0] if answer["candidates"] else None


def test_readings_fold_and_keys():
    assert {"liu", "lu"} <= readings("六") and readings("5") == {"5"}
    f = parse_folds("southwest")
    assert f.syllable("lan") == f.syllable("nan") and f.syllable("hu") == f.syllable("fu")
    assert f.syllable("jing") == f.syllable("jin") and f.syllable("zhang") == f.syllable("zan")
    assert f.syllable("xiang") == f.syllable("xian") and f.syllable("long") == "nong"  # -ong has no -on to fold to
    assert parse_folds("none").syllable("lan") == "lan"
    assert parse_folds("l-n,ing-in").syllable("ning") == parse_folds("l-n,ing-in").syllable("lin")
    for bad in ("nl", "n-q2", "n-an", "southeast"):
        with pytest.raises(FoldError, match="WANGGE_PINYIN_FOLDS"):
            parse_folds(bad)
    assert Settings().pinyin_folds == "southwest"
    with pytest.raises(ValidationError, match="pinyin_folds") as bad_setting:
        Settings(pinyin_folds="n-an")
    assert "WANGGE_PINYIN_FOLDS: 'n-an' pairs neither two initials nor two finals" in str(bad_setting.value)
    ix = PinyinIndex(["建设路", "南湖路", "六安路"], f)
    assert ix.find("建社路12号") == [(0, 3, "建设路", True)]
    assert ix.find("兰湖路") == [(0, 3, "南湖路", False)]  # only once folded: the weaker match
    assert ix.find("建设路") == []  # exact names are not pinyin matches


@pytest.mark.parametrize("typed", ["建社路", "健设路", "建设露"])
def test_homophone_road(sw, typed):
    want = address("建设路", 12, 2)
    r = sw.geocode(f"{typed}12号锦绣花园12栋2单元")
    assert top(r)["address"] == want and top(r)["level"] == "unit" and r["confident"], typed
    # the pinyin road alone, with no exactly named estate to agree, is the right entrance but not sure
    r = sw.geocode(f"{typed}12号12栋2单元")
    assert top(r)["address"] == want and not r["confident"], typed
    # the road by itself is named at road level, not nothing
    r = sw.geocode(typed)
    assert top(r)["level"] == "road" and top(r)["address"] in ("建设路", "箭射路") and not r["confident"]


def test_homophones_in_the_registry_are_told_apart_by_the_number(sw):
    """健设路 reads as both 建设路 and 箭射路: the house number that exists decides, and alone it is unsure."""
    assert top(sw.geocode("健设路103号金桥家园103栋1单元"))["address"] == address("箭射路", 103, 1)
    assert top(sw.geocode("健设路7号锦绣花园7栋1单元"))["address"] == address("建设路", 7, 1)
    r = sw.geocode("健设路")
    assert r["candidates"] and not r["confident"]


def test_folded_road_under_the_southwest_folds_only(sw, plain):
    r = sw.geocode("拦湖路5号阳光小区5栋1单元")  # lán hú: 南湖 once n/l fold
    assert top(r)["address"] == address("南湖路", 5, 1) and r["confident"]
    # alone, the toneless reading wins over the folded one: 兰湖路 (lán hú), a real road, not 南湖路
    assert top(sw.geocode("拦湖路"))["address"] == "兰湖路"
    assert top(sw.geocode("喃湖路"))["address"] == "南湖路"  # nán hú, toneless
    # without the folds 拦湖路 is 兰湖路 (toneless lan hu lu), never 南湖路
    r = plain.geocode("拦湖路5号阳光小区5栋1单元")
    assert all("南湖路" not in c["address"] for c in r["candidates"]) and not r["confident"]


def test_a_real_road_typed_for_its_fold_twin(sw, plain):
    """兰湖路 is a real road without number 5; 南湖路 has it, in the estate named: that is meant (unsure).
    Without the estate agreeing, the named road lacks the number: its road, never a building."""
    r = sw.geocode("兰湖路5号阳光小区5栋1单元")
    assert top(r)["address"] == address("南湖路", 5, 1) and not r["confident"]
    r = sw.geocode("兰湖路5号")
    assert top(r)["level"] == "road" and top(r)["address"] == "兰湖路" and not r["confident"]
    r = plain.geocode("兰湖路5号阳光小区5栋1单元")
    assert top(r)["level"] == "road" and top(r)["address"] == "兰湖路" and not r["confident"]
    r = sw.geocode("兰湖路51号春晖苑51栋2单元")
    assert top(r)["address"] == address("兰湖路", 51, 2) and r["confident"]


@pytest.mark.parametrize("typed", ["陆安路", "溜安路", "六按路"])
def test_polyphonic_place_name(sw, typed):
    """六安 is Lù'ān: typed with the lu reading (陆) or the everyday liu (溜), it is 六安路."""
    r = sw.geocode(f"{typed}3号翠柳苑3栋2单元")
    assert top(r)["address"] == address("六安路", 3, 2) and r["confident"], typed


def test_homophone_estate_agrees_with_an_exact_road(sw):
    want = address("建设路", 9, 1)
    r = sw.geocode("建设路9号锦秀花园9栋1单元")  # 锦秀 jǐn xiù = 锦绣
    assert top(r)["address"] == want and r["confident"]
    r = sw.geocode("锦秀花园9栋1单元")  # the pinyin estate alone: right, not sure
    assert top(r)["address"] == want and not r["confident"]
    r = sw.geocode("近秀花园")  # jìn: near-homophone (another tone), named at its level
    assert top(r)["address"] == "锦绣" and not r["confident"]


@pytest.mark.parametrize("room", ["1701室", "1701户", "1701房", "一七零一室"])
def test_room_numbers_are_detail(sw, room):
    r = sw.geocode(f"建设路4号锦绣花园4栋2单元{room}")
    assert top(r)["address"] == address("建设路", 4, 2) and r["confident"]
    assert r["components"]["room"] == "1701" and r["components"]["unit"] == "2"


def test_dashed_building_unit_room(sw):
    r = sw.geocode("锦绣花园4-2-1701")
    assert r["components"] == {"building": "4", "unit": "2", "room": "1701"}
    assert top(r)["address"] == address("建设路", 4, 2) and r["confident"]


@pytest.mark.parametrize("typed", ["建设路4号楼下锦绣花园4栋2单元", "建设路4号旁边锦绣花园4栋2单元",
                                   "建设路4号锦绣花园4栋门口2单元", "建设路4号锦绣花园4栋2单元对面",
                                   "建设路4号锦绣花园4栋2单元附近"])
def test_filler_after_a_number(sw, typed):
    r = sw.geocode(typed)
    assert top(r)["address"] == address("建设路", 4, 2) and r["confident"], typed


def test_filler_normalised_away():
    assert normalize("建设路4号楼下") == "建设路4号" and numbers(normalize("建设路4号楼下")) == {"house_number": "4"}
    assert normalize("锦绣花园5号楼下") == "锦绣花园5栋"  # after an estate 5号楼 is still building 5
    assert normalize("锦绣花园4栋隔壁2单元") == "锦绣花园4栋2单元"


def test_missing_number_is_the_road_never_a_building(sw):
    r = sw.geocode("建社路99号锦绣花园99栋1单元")
    assert top(r)["level"] == "road" and top(r)["address"] == "建设路" and not r["confident"]


def test_areas_named_at_their_level(sw):
    """A community or street typed exactly or in pinyin is answered at its level when nothing finer is."""
    areas = {"黔灵社区": ("community", "c1", "黔灵社区", 106.70, 26.58),
             "中华南路街道": ("street", "s1", "中华南路街道", 106.71, 26.58),
             "云岩区": ("district", "d1", "云岩区", 106.72, 26.58)}
    gc = Geocoder(sw.r, areas, parse_folds("southwest"))
    for typed, level, name in (("黔灵社区", "community", "黔灵社区"), ("黔林社区", "community", "黔灵社区"),
                               ("中化南路街道", "street", "中华南路街道"), ("云岩区", "district", "云岩区")):
        r = gc.geocode(typed)
        assert top(r)["level"] == level and top(r)["address"] == name and not r["confident"], typed


@pytest.mark.parametrize("typed", ["今天天气很好", "12345", "你好请问", "   "])
def test_no_place_no_answer(sw, typed):
    r = sw.geocode(typed)
    assert r["candidates"] == [] and not r["confident"]
