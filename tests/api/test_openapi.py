"""The OpenAPI document tells the truth (error shape, statuses, key scheme, enums, links), time windows
refuse what they cannot use, 405s list every method, and a short schemathesis run against a live server
on the demo finds no failure in the check classes this slice answers for."""
from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from gis.command import periods

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def spec():
    from api.app import create_app

    return create_app().openapi()


def _ops(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def test_every_error_answer_has_the_real_shape(spec):
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "HTTPValidationError" not in json.dumps(spec)
    assert schemas["Error"]["properties"]["detail"] == {"type": "string"}
    assert schemas["Error"]["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert schemas["FieldError"]["required"] == ["field", "message"]
    for method, path, op in _ops(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2"):
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
        assert {"500", "503"} <= set(op["responses"]), (method, path)


def test_statuses_are_derived_per_operation(spec):
    paths = spec["paths"]
    commit = set(paths["/v1/redraws/{redraw_id}/commit"]["post"]["responses"])
    assert {"401", "403", "404", "409", "422", "429"} <= commit and "413" not in commit  # no body
    assert {"404", "409", "413"} <= set(paths["/v1/requests/{rid}/moves"]["post"]["responses"])
    assert "400" in paths["/v1/redraws/file"]["post"]["responses"]
    listing = set(paths["/v1/requests"]["get"]["responses"])
    assert "404" not in listing and "413" not in listing and {"401", "403", "422"} <= listing
    health = set(paths["/health"]["get"]["responses"])
    assert not health & {"401", "403", "422"}


def test_key_scheme_and_security_follow_the_dependencies(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for method, path, op in _ops(spec):
        if path in ("/health", "/health/live"):  # public: no key
            assert "security" not in op
        else:
            assert {"ApiKey": []} in op["security"], (method, path)
            assert ({"ApiKeyQuery": []} in op["security"]) == path.startswith(("/maps/", "/tiles/")), (method, path)


def test_closed_vocabularies_are_enums(spec):
    from gis.command.rules import load_rules
    from gis.coords import CRS_NAMES
    from gis.store.models import LEVELS
    from gis.settings import get_settings

    schemas = spec["components"]["schemas"]
    categories = list(load_rules(get_settings().request_rules).categories)
    assert schemas["NewRequest"]["properties"]["category"]["enum"] == categories
    assert set(CRS_NAMES) <= set(schemas["NewRequest"]["properties"]["crs"]["enum"])
    assert "version" in schemas["Move"]["required"]
    params = {p["name"]: p for p in spec["paths"]["/v1/coverage"]["get"]["parameters"]}
    assert params["level"]["schema"]["enum"] == list(LEVELS)
    tile = {p["name"]: p for p in spec["paths"]["/tiles/{level}/{z}/{x}/{y}.pbf"]["get"]["parameters"]}
    assert tile["level"]["schema"]["enum"] == list(LEVELS) and tile["z"]["schema"]["maximum"] == 22
    nearest = {p["name"]: p for p in spec["paths"]["/v1/stations/nearest"]["get"]["parameters"]}
    assert nearest["crs"]["schema"]["enum"][: len(CRS_NAMES)] == list(CRS_NAMES)


def test_links_lead_from_created_things_to_what_follows(spec):
    created = spec["paths"]["/v1/requests"]["post"]["responses"]["201"]["links"]
    assert created["MoveRequest"]["operationId"] == spec["paths"]["/v1/requests/{rid}/moves"]["post"]["operationId"]
    assert created["MoveRequest"]["requestBody"]["version"] == "$response.body#/version"
    redraw = spec["paths"]["/v1/redraws/auto"]["post"]["responses"]["200"]["links"]
    assert redraw["CommitRedraw"]["operationId"] == spec["paths"]["/v1/redraws/{redraw_id}/commit"]["post"]["operationId"]
    ids = {op["operationId"] for _m, _p, op in _ops(spec)}
    for _m, _p, op in _ops(spec):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids


def test_time_parameters_accept_iso_only_within_the_years():
    assert periods.iso_time("2026-10-01") == datetime(2026, 10, 1)
    assert periods.iso_time("2026-10-01T08:00:00+08:00").hour == 8
    for bad in ("0.5", "1700000000", "yesterday"):
        with pytest.raises(ValueError, match="not an ISO date"):
            periods.iso_time(bad)
    with pytest.raises(ValueError, match="outside the years"):
        periods.iso_time("0001-01-01T00:00:00Z")
    with pytest.raises(periods.WindowError, match="^start: .*outside the years"):
        periods.day_window(datetime(1, 1, 1), None, 30, None)
    with pytest.raises(periods.WindowError, match="^days: "):
        periods.day_window(None, datetime(2026, 1, 1), 1e12, None)
    s, e = periods.day_window(datetime(1900, 1, 1), None, 30, None)
    assert (e - s).days == 30
    for bad in ("2026- 1", "2026-+1", "1999-12", "2026-13", "２０２６-01", ""):
        with pytest.raises(periods.WindowError, match="^month: "):
            periods.parse_month(bad)
    assert periods.parse_month("2100-12") == (2100, 12)


@pytest.fixture(scope="module")
def demo(pg_url, engine):
    from tests.conftest import fresh_demo

    return fresh_demo(engine)


@pytest.fixture
def client(demo, env):
    from api.app import create_app

    with TestClient(create_app()) as c:
        c.headers["X-API-Key"] = demo["keys"]["admin"]
        yield c


@pytest.mark.parametrize("path", ["/v1/hotspots", "/maps/heatmap", "/maps/hotspots"])
def test_windows_at_the_calendar_ends_are_refused_naming_the_parameter(client, path):
    for query, field in (({"start": "0001-01-01T00:00:00Z"}, "start"), ({"end": "9999-12-31T23:59:59Z"}, "end"),
                         ({"start": "0.5"}, "start"), ({"end": "1700000000"}, "end")):
        r = client.get(path, params=query)
        assert r.status_code == 422, (path, query, r.text)
        assert r.json()["detail"].startswith(f"{field}: ") and r.json()["errors"][0]["field"] == field
    assert client.get(path, params={"start": "2025-10-01", "end": "2025-11-01"}).status_code == 200


def test_literal_paths_answer_405_with_every_method(client):
    for path, allow in (("/v1/redraws/auto", "POST"), ("/v1/redraws/file", "POST"), ("/v1/redraws/merge", "POST"),
                        ("/v1/redraws/split", "POST"), ("/v1/requests/escalations", "POST")):
        r = client.get(path)
        assert r.status_code == 405 and r.headers["allow"] == allow, (path, r.status_code, r.text)
    r = client.delete("/v1/requests")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = client.put("/v1/redraws/1")
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert client.get("/v1/redraws/999999").status_code == 404


# Failure classes still open: schema-violating input accepted (ST201: lax integers, e.g. `true` read
# as 1) and schema-valid input refused (ST202: rules across fields that a schema cannot say, listed in
# each operation's `x-rules`). Every other class, server errors included, must stay at zero.
PENDING = {"ST201", "ST202"}


def test_short_schemathesis_run_against_the_demo(demo, pg_url):
    from bench.fuzz import run_schemathesis, serve

    # the fuzzer sends many wrong keys on purpose: the per-client throttle (429) would hide the answers
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url, PYTHONPATH=os.getcwd(), WANGGE_KEY_FAILURES_MAX="1000000")
    server, url = serve(env)
    try:
        rc, out, fails = run_schemathesis(url, demo["keys"]["admin"], 20, "examples,coverage,fuzzing,stateful",
                                          max_time=150, seed=11, timeout=600, timed=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
    from api.app import create_app
    from gis.settings import Settings

    n_ops = sum(1 for _ in _ops(create_app(Settings(database_url=pg_url)).openapi()))
    assert "Operations:" in out and f"{n_ops} selected" in out, out[-3000:]
    unexpected = {k: n for k, n in fails.items() if k.split()[0] not in PENDING}
    assert not unexpected, out[-20000:]
