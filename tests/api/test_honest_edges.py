"""Honest edges on the routes: a 403 says in plain words what the key may not do and who may; an
unknown `status=` or `category=` filter is a 422 naming the bad value and the allowed ones (not 200
with nothing)."""
from __future__ import annotations

import pytest

from tests.locate.test_api_locate import client, get  # noqa: F401  (client is a fixture)


@pytest.mark.parametrize("role,path,words", [
    ("consumer", "/v1/hotspots", "a consumer key may not open the command maps (a command, planner or admin key may)"),
    ("planner", "/v1/requests", "a planner key may not run the request loop (a command or admin key may)"),
    ("command", "/v1/redraws/1", "a command key may not propose, commit or roll back redraws (a planner or admin key may)"),
])
def test_403_says_what_the_key_may_not_do_and_who_may(client, role, path, words):  # noqa: F811
    r = get(client, path, role=role)
    assert r.status_code == 403
    assert r.json()["detail"] == words
    assert r.json()["errors"] == [{"field": "request", "message": words}]


def test_an_unknown_status_filter_is_named_with_the_allowed_ones(client):  # noqa: F811
    r = get(client, "/v1/requests", role="command", params={"status": "lost"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "status"
    assert "'lost'" in r.json()["detail"] and "open" in r.json()["detail"] and "dispatched" in r.json()["detail"]
    for ok in ("open", "dispatched"):
        assert get(client, "/v1/requests", role="command", params={"status": ok}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/hotspots", "/maps/heatmap", "/maps/hotspots"])
def test_an_unknown_category_filter_is_named_with_the_allowed_ones(client, path):  # noqa: F811
    r = get(client, path, role="command", params={"category": "火星来客"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "category"
    assert "'火星来客'" in r.json()["detail"] and "环境卫生" in r.json()["detail"]


def test_a_known_category_filter_still_answers(client):  # noqa: F811
    r = get(client, "/v1/hotspots", role="command", params={"category": "环境卫生"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("limit", ["abc", 0, 21, True])
def test_a_bad_batch_geocode_limit_is_named_not_a_500(client, limit):  # noqa: F811
    r = client.post("/v1/geocode", json={"addresses": ["解放路1号"], "limit": limit},
                    headers={"X-API-Key": client.keys["consumer"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("url", ["/v1/locate?lon=117&lat=36.6&crs=mars", "/v1/reverse?lon=117&lat=36.6&crs=mars",
                                 "/v1/stations/nearest?lon=117&lat=36.6&crs=mars", "/v1/hotspots?category=火星来客",
                                 "/maps/heatmap?category=火星来客", "/maps/hotspots?category=火星来客",
                                 "/v1/requests?status=lost"])
def test_the_key_is_checked_before_the_parameters(client, url):  # noqa: F811
    assert client.get(url).status_code == 401  # no key: 401, not a 422 that shows the menu
