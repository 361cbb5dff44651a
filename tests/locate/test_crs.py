"""One CRS parser (gis.coords.normalize_crs) for the API, the command line and the importers: names and
EPSG codes in any case, spaces trimmed; on /v1 a pair is always lon, lat; an unknown name is a 422
naming `crs` and the accepted names."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from gis import coords
from gis.coords import CrsError, normalize_crs
from tests.api.test_cli import run
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import client, get, hierarchy  # noqa: F401  (client is a fixture)

SPELLINGS = [("wgs84", "wgs84"), ("EPSG:4326", "wgs84"), ("4326", "wgs84"), ("CRS84", "wgs84"),
             ("OGC:CRS84", "wgs84"), ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "wgs84"),
             ("cgcs2000", "cgcs2000"), ("EPSG:4490", "cgcs2000"), ("4490", "cgcs2000"),
             ("gcj02", "gcj02"), ("bd09", "bd09")]


@given(st.sampled_from(SPELLINGS), st.data())
def test_every_spelling_in_any_case_with_spaces(pair, data):
    spelling, name = pair
    mixed = "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in spelling)
    pad = data.draw(st.sampled_from(["", " ", "  ", "\t"]))
    assert normalize_crs(pad + mixed + pad) == name


@hsettings(max_examples=300)
@given(st.text(max_size=30))
def test_anything_else_is_refused_naming_the_field_and_the_names(text):
    known = {s.lower() for s, _ in SPELLINGS} | {"http://www.opengis.net/def/crs/epsg/0/4326",
                                                 "http://www.opengis.net/def/crs/epsg/0/4490"}
    if text.strip().lower() in known:
        assert normalize_crs(text) in coords.CRS_NAMES
        return
    with pytest.raises(CrsError) as err:
        normalize_crs(text, "--crs")
    assert err.value.field == "--crs" and str(err.value).startswith("--crs: unknown coordinate system")
    assert all(n in str(err.value) for n in ("wgs84", "EPSG:4326", "CRS84", "cgcs2000", "EPSG:4490", "gcj02", "bd09"))


def test_cgcs2000_and_crs84_are_lon_lat_like_wgs84():
    for name in ("EPSG:4490", "CRS84", "EPSG:4326"):
        assert coords.to_wgs84(117.0, 36.6, name) == (117.0, 36.6)


@pytest.mark.parametrize("crs", ["EPSG:4490", "epsg:4326", "CRS84", " 4490 ", "OGC:CRS84",
                                 "http://www.opengis.net/def/crs/OGC/1.3/CRS84"])
def test_the_api_takes_every_spelling_always_lon_lat(client, crs):  # noqa: F811
    body = get(client, "/v1/locate", params={"lon": 117.002, "lat": 36.602, "crs": crs}).json()
    assert body["grid"]["code"] == "370102001001001" and body["point"] == {"lon": 117.002, "lat": 36.602}
    batch = client.post("/v1/locate", json={"crs": crs, "points": [[117.015, 36.615]]},
                        headers={"X-API-Key": client.keys["consumer"]})
    assert batch.status_code == 200 and batch.json()["results"][0]["grid"] == "370102001001002"
    near = get(client, "/v1/stations/nearest", params={"lon": 117.002, "lat": 36.602, "crs": crs})
    assert near.status_code == 200 and near.json()["stations"][0]["name"] == "明湖党群服务中心"


def test_bd09_on_the_api_is_converted(client):  # noqa: F811
    x, y = coords.from_wgs84(117.002, 36.602, "bd09")
    body = get(client, "/v1/locate", params={"lon": x, "lat": y, "crs": "BD09"}).json()
    assert body["grid"]["code"] == "370102001001001"
    assert abs(body["point"]["lon"] - 117.002) < 1e-6 and abs(body["point"]["lat"] - 36.602) < 1e-6


@pytest.mark.parametrize("path", ["/v1/locate", "/v1/reverse", "/v1/stations/nearest"])
def test_an_unknown_crs_is_422_naming_crs_and_the_accepted_names(client, path):  # noqa: F811
    r = get(client, path, params={"lon": 117.002, "lat": 36.602, "crs": "EPSG:3857"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "crs"
    assert "'EPSG:3857'" in r.json()["detail"] and "EPSG:4490" in r.json()["detail"]


def test_batch_and_requests_name_crs_too(client):  # noqa: F811
    h = {"X-API-Key": client.keys["admin"]}
    r = client.post("/v1/locate", json={"crs": "mars", "points": [[117.0, 36.6]]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "crs"
    r = client.post("/v1/requests", json={"category": "环境卫生", "lon": 117.002, "lat": 36.602, "crs": "mars"},
                    headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "crs"


def test_the_command_line_takes_every_spelling(clean_db, pg_url):
    write_generation(clean_db, hierarchy())
    out = json.loads(run("locate", "117.002", "36.602", "--crs", "EPSG:4490", "--json", env_url=pg_url).stdout)
    assert out["grid"]["code"] == "370102001001001"
    bad = run("locate", "117.002", "36.602", "--crs", "EPSG:3857", env_url=pg_url, check=False)
    assert bad.returncode != 0 and "--crs" in bad.stderr and "EPSG:4490" in bad.stderr and bad.stdout == ""
