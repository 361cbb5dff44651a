"""/maps/grids as a person sees it: served by the real app with the demo city, loaded in headless
Chromium with the outside world unreachable; the map, its layers and no errors."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from api.app import create_app
from gis.settings import Settings
from maps.assets import render
from tests.browser import CHROMIUM, live_server, load_page
from tests.conftest import fresh_demo

SHOT = Path("/tmp/wangge_grids_map.png")


def test_render_refuses_remote_assets():
    import folium
    m = folium.Map(tiles=None)
    m.default_js = [("evil", "https://cdn.example.com/x.js")]
    with pytest.raises(KeyError, match="cdn.example.com"):
        render(m)


@pytest.fixture(scope="module")
def server(engine, pg_url):
    report = fresh_demo(engine)
    with live_server(create_app(Settings(database_url=pg_url))) as base:
        yield base, report


def test_grids_page_needs_a_map_role(server):
    import urllib.error
    import urllib.request
    base, report = server
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/maps/grids")
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/maps/grids?api_key={report['keys']['consumer']}")
    assert err.value.code == 403


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_grids_page_renders_offline(server, tmp_path):
    base, report = server
    shot = tmp_path / "grids.png"
    page = load_page(f"{base}/maps/grids?api_key={report['keys']['admin']}", screenshot=shot)
    assert "leaflet-container" in page.dom, "Leaflet did not start"
    paths = len(re.findall(r"<path[^>]*leaflet-interactive", page.dom))
    canvases = page.dom.count("<canvas")
    assert paths > 0 or canvases > 0, "no vector layer was drawn"
    layers = re.findall(r'leaflet-control-layers-selector', page.dom)
    assert len(layers) >= 5, "one layer per level plus stations in the layer control"
    for label in ("网格 grid", "社区 community", "街道 street", "服务站 stations"):
        assert label in page.dom
    assert page.console_errors == []
    assert page.failed_requests == []
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000
    shutil.copy(page.screenshot, SHOT)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_coverage_page_renders_offline(server, tmp_path):
    base, report = server
    page = load_page(f"{base}/maps/coverage?api_key={report['keys']['admin']}", screenshot=tmp_path / "cov.png")
    assert "leaflet-container" in page.dom
    for label in ("覆盖率 share within 15 min", "服务圈 15-min circles", "服务站 stations"):
        assert label in page.dom
    assert page.console_errors == [] and page.failed_requests == []
    shutil.copy(page.screenshot, "/tmp/wangge_coverage_map.png")


COMMAND_PAGES = {
    # page: labels that must be on it (layer names, legend)
    "heatmap": ("请求热力 requests", "社区 communities", "timecontrol"),
    "hotspots": ("Gi* 热点 hotspots", "热点 99 %", "冷点 99 %"),
    "overdue": ("红 重要紧急", "蓝 一般", "超期未办结 overdue"),
    "ranking": ("排名 ranking", "后两名 lowest two", "score 得分"),
}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("name", sorted(COMMAND_PAGES))
def test_command_pages_render_offline(server, tmp_path, name):
    base, report = server
    page = load_page(f"{base}/maps/{name}?api_key={report['keys']['admin']}", screenshot=tmp_path / f"{name}.png")
    assert "leaflet-container" in page.dom, "Leaflet did not start"
    for label in COMMAND_PAGES[name]:
        assert label.lower() in page.dom.lower(), label
    if name == "heatmap":
        assert page.dom.count("<canvas") >= 1, "no heat layer was drawn"
    else:
        drawn = len(re.findall(r"<path[^>]*leaflet-interactive", page.dom)) + page.dom.count("<canvas")
        assert drawn > 0, "no vector layer was drawn"
    assert page.console_errors == [], page.console_errors
    assert page.failed_requests == [], page.failed_requests
    assert page.screenshot is not None and page.screenshot.stat().st_size > 10_000
    shutil.copy(page.screenshot, f"/tmp/wangge_{name}_map.png")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_browser_check_sees_a_remote_load():
    """The offline check itself: a page that loads a script from outside is reported."""
    page = load_page('data:text/html,<script src="http://cdn.example.com/x.js"></script><p>hi</p>')
    assert page.failed_requests == ["http://cdn.example.com/x.js (net error -105)"]


def test_heatmap_frames_by_week(server):
    import urllib.error
    import urllib.request
    base, report = server
    key = report["keys"]["admin"]
    html = urllib.request.urlopen(f"{base}/maps/heatmap?days=60&step=week&api_key={key}").read().decode()
    weeks = set(re.findall(r"'(\d{4}-W\d{2})'", html))  # the time slider's labels
    assert 8 <= len(weeks) <= 10  # 60 days: 9 or 10 ISO weeks
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/maps/heatmap?step=fortnight&api_key={key}")
    assert err.value.code == 422
