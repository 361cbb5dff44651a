# ruff: noqa: F811  (pytest fixtures arrive as arguments named like the imported fixture)
"""Proposals in the wrong place: a feature outside its parent is `outside_parent` whatever else is wrong
(invalid, far away, in a wrongly declared CRS), and the before/after map of an invalid proposal still
draws it with its findings."""
from __future__ import annotations

import zipfile

import geopandas as gpd
import pytest
import shapely

from tests.redraw.test_redraws import COMM, client, fc, post  # noqa: F401  (client: the fixture, shared)


def _upload(client, frame, tmp_path, name="grids"):
    d = tmp_path / name
    d.mkdir()
    frame.to_file(d / f"{name}.shp", encoding="utf-8")
    zipped = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for f in d.iterdir():
            z.write(f, f.name)
    return client.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
                       files={"file": (zipped.name, zipped.read_bytes())}, headers={"X-API-Key": client.keys["planner"]})


def test_prj_that_lies_gives_outside_parent(client, tmp_path):
    """Degrees in a Shapefile whose .prj says EPSG:3857: read as metres, the grids land near (0, 0)."""
    south, north = shapely.box(117.0, 36.6, 117.02, 36.61), shapely.box(117.0, 36.61, 117.02, 36.62)
    frame = gpd.GeoDataFrame({"code": [COMM + "003", COMM + "004"], "name": ["南", "北"]},
                             geometry=[south, north], crs=3857)
    r = _upload(client, frame, tmp_path)
    assert r.status_code == 200, r.text
    body = r.json()
    print(body["findings"])
    outside = [f for f in body["findings"] if f["kind"] == "outside_parent"]
    assert sorted(c for f in outside for c in f["codes"]) == [COMM + "003", COMM + "004"]
    assert body["valid"] is False


def test_outside_parent_whatever_else_is_wrong(client):
    """A bow-tie (invalid) reaching out of the parent, and a polygon far away, are both outside_parent
    as well as what else they are; the inside one is not."""
    inside = shapely.box(117.0, 36.6, 117.02, 36.61)
    bowtie = shapely.Polygon([(117.0, 36.61), (117.03, 36.62), (117.03, 36.61), (117.0, 36.62), (117.0, 36.61)])
    far = shapely.box(0.001, 0.001, 0.002, 0.002)
    line = shapely.LineString([(117.01, 36.615), (117.05, 36.615)])
    body = post(client, {"level": "grid", "parent": COMM, "features": fc(
        (COMM + "003", "南", inside), (COMM + "004", "蝴蝶", bowtie), (COMM + "005", "远", far),
        (COMM + "006", "线", line))}).json()
    assert body["valid"] is False
    by_kind = {}
    for f in body["findings"]:
        by_kind.setdefault(f["kind"], set()).update(f["codes"])
    assert by_kind["outside_parent"] == {COMM + "004", COMM + "005", COMM + "006"}
    assert {COMM + "004", COMM + "006"} <= by_kind["invalid"]
    assert COMM + "005" in by_kind["households"]
    far_finding = next(f for f in body["findings"] if f["kind"] == "outside_parent" and f["codes"] == [COMM + "005"])
    assert "wholly outside" in far_finding["message"] and far_finding["geometry"]["type"] == "Polygon"
    km = float(far_finding["message"].split(", ")[-1].split(" m ")[0].replace(",", "")) / 1000
    assert 12_000 < km < 13_500  # (0, 0) to Jinan on the ellipsoid, roughly 12,500 km
    bow = next(f for f in body["findings"] if f["kind"] == "outside_parent" and f["codes"] == [COMM + "004"])
    assert "m² lies outside its parent" in bow["message"]


def _drawn(html_path):
    """Load a saved page in headless Chromium; per Leaflet map, the areas and findings drawn on it."""
    from tests.browser import load_page

    probe = """<script>window.addEventListener('load', function () { setTimeout(function () {
      var maps = [];
      for (var k in window) { try { if (window[k] instanceof L.Map) maps.push(window[k]); } catch (e) {} }
      var out = maps.map(function (m) {
        var areas = [], findings = [];
        m.eachLayer(function (l) {
          if (!l.feature || !l.feature.properties) return;
          var p = l.feature.properties;
          if (p.kind !== undefined && p.severity !== undefined) findings.push(p.kind);
          else if (p.code !== undefined && p.households !== undefined) areas.push(p.code);
        });
        return {areas: areas, findings: findings};
      });
      document.body.setAttribute('data-drawn', JSON.stringify(out));
    }, 500); });</script>"""
    html = html_path.read_text(encoding="utf-8").replace("</body>", probe + "</body>")
    html_path.write_text(html, encoding="utf-8")
    page = load_page(html_path.as_uri())
    import html as h
    import json
    import re
    m = re.search(r'data-drawn="([^"]*)"', page.dom)
    assert m, "the probe did not run"
    return json.loads(h.unescape(m.group(1))), page


def test_invalid_proposal_map_draws_it_with_findings(client, tmp_path):
    """/maps/redraws/{id} of an invalid proposal: the proposal is drawn on the right, with its findings
    (not an empty "after (0)" panel), in a real browser."""
    from maps.assets import inline
    from tests.browser import CHROMIUM

    inside = shapely.box(117.0, 36.6, 117.02, 36.61)
    bowtie = shapely.Polygon([(117.0, 36.61), (117.03, 36.62), (117.03, 36.61), (117.0, 36.62), (117.0, 36.61)])
    far = shapely.box(0.001, 0.001, 0.002, 0.002)
    body = post(client, {"level": "grid", "parent": COMM, "features": fc(
        (COMM + "003", "南", inside), (COMM + "004", "蝴蝶", bowtie), (COMM + "005", "远", far))}).json()
    assert body["valid"] is False and body["draft_generation"] is None
    page = client.get(f"/maps/redraws/{body['id']}", headers={"X-API-Key": client.keys["planner"]})
    assert page.status_code == 200
    located = [f for f in body["findings"] if f["geometry"]]
    assert "after (3)" in page.text and f"findings ({len(located)})" in page.text  # layer names
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: the rendered check cannot run")
    f = tmp_path / "redraw.html"
    f.write_text(inline(page.text), encoding="utf-8")
    drawn, seen = _drawn(f)
    assert len(drawn) == 2, "two maps side by side"
    before, after = drawn
    assert sorted(before["areas"]) == [COMM + "001", COMM + "002"] and before["findings"] == []
    assert sorted(after["areas"]) == [COMM + "003", COMM + "004", COMM + "005"]
    assert sorted(after["findings"]) == sorted(f["kind"] for f in located)
    assert "outside_parent" in after["findings"]
    assert seen.failed_requests == [] and seen.console_errors == []
