"""The command-center commands as a user runs them: hotspots, rankings, the escalation sweep and a
map written as one standalone file that opens from disk with no server and no internet."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text

from tests.browser import CHROMIUM, load_page
from tests.api.test_cli import run
from tests.conftest import fresh_demo


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    fresh_demo(engine)
    return pg_url


def test_hotspots_and_rankings_json(demo):
    hot = json.loads(run("hotspots", "--json", env_url=demo).stdout)
    assert hot["unit"] == "grid" and hot["total"] > 0 and len(hot["areas"]) == 28
    assert sum(hot["summary"].values()) == 28
    ranks = json.loads(run("rankings", "--month", "2026-10", "--json", env_url=demo).stdout)
    assert ranks["month"] == "2026-10" and ranks["ranked"] == 28 and len(ranks["lowest"]) == 2
    bad = run("rankings", "--month", "October", env_url=demo, check=False)
    assert bad.returncode != 0 and "month" in bad.stderr
    bad = run("hotspots", "--unit", "hex", env_url=demo, check=False)
    assert bad.returncode != 0 and "hex" in bad.stderr


def test_escalate_sweep(demo, engine):
    with engine.connect() as conn:
        due = conn.execute(text("SELECT count(*) FROM request WHERE status IN ('dispatched','handling','coordinating') "
                                "AND due_at < now() AND escalated_at IS NULL")).scalar()
    out = json.loads(run("requests", "escalate", "--json", env_url=demo).stdout)
    assert len(out["escalated"]) == due > 0
    assert json.loads(run("requests", "escalate", "--json", env_url=demo).stdout)["escalated"] == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_exported_map_opens_from_disk_offline(demo, tmp_path):
    out = tmp_path / "ranking.html"
    p = run("map", "ranking", "--month", "2026-10", "-o", str(out), env_url=demo)
    assert "wrote" in p.stdout
    html = out.read_text(encoding="utf-8")
    assert "/static/maps/" not in html  # nothing left to fetch from the service …
    assert not re.search(r"""<(?:script|link|img)[^>]+(?:src|href)=["'](?:https?:)?//""", html)  # … or outside
    page = load_page(out.as_uri(), screenshot=tmp_path / "ranking.png")
    assert "leaflet-container" in page.dom and "排名 ranking" in page.dom
    assert page.console_errors == [] and page.failed_requests == []
    bad = run("map", "nowhere", "-o", str(out), env_url=demo, check=False)
    assert bad.returncode != 0 and "nowhere" in bad.stderr
