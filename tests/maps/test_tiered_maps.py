"""Map pages and tiles of a three-tier city (网格 → 小区网格 → 楼栋网格) draw every tier's grids."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.settings import Settings
from tests.conftest import wipe


@pytest.fixture(scope="module")
def city(engine, pg_url):
    from data.load_demo import load_demo

    wipe(engine)
    report = load_demo(engine, "small", seed=0, tiers=3)
    with TestClient(create_app(Settings(database_url=pg_url))) as c:
        c.headers["X-API-Key"] = report["keys"]["admin"]
        yield c, engine, report
    wipe(engine)


def _grids_by_tier(engine) -> dict[int, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("""SELECT tier, code FROM generation_area ga JOIN active_generation ag
                                    ON ag.generation_id = ga.generation_id WHERE level = 'grid'""")).all()
    out: dict[int, list[str]] = {}
    for tier, code in rows:
        out.setdefault(tier, []).append(code)
    return out


def test_the_grids_page_draws_every_tier(city):
    c, engine, _ = city
    tiers = _grids_by_tier(engine)
    assert sorted(tiers) == [1, 2, 3]
    page = c.get("/maps/grids")
    assert page.status_code == 200
    for tier, codes in tiers.items():
        assert min(codes) in page.text, f"tier {tier}'s grid {min(codes)} is not on the page"


@pytest.mark.parametrize("page", ["hotspots", "ranking", "overdue", "coverage"])
def test_command_pages_of_a_tiered_city(city, page):
    c, _, _ = city
    assert c.get(f"/maps/{page}").status_code == 200


def test_areas_answer_each_tier_under_its_parent(city):
    c, engine, _ = city
    tiers = _grids_by_tier(engine)
    coarse = sorted(tiers[1])[0]
    body = c.get("/v1/areas", params={"level": "grid", "parent": coarse}).json()
    children = {f["properties"]["code"] for f in body["features"]}
    assert children and children <= set(tiers[2]) and all(code.startswith(coarse) for code in children)
