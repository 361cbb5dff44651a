"""One error table and one error shape: every domain error answers its status with `detail` and
`errors` naming the field; HTTP errors and Starlette's 404/405 too; an unexpected failure answers 500
with an error_id that the log carries, never the traceback."""
from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import errors
from api.app import create_app
from gis import errors as ge
from gis.command import loop
from gis.command.hotspots import HotspotError
from gis.address.geocode import NoAddressNear
from gis.command.periods import WindowError
from gis.importers.common import ImportRefused
from gis.redraw import propose
from gis.settings import Settings
from gis.store import generations
from gis.store.areas import AreaQueryError
from gis.tiles import NoSuchGeneration, TileError
from gis.store.people import PeopleConflict, PeopleError, PeopleNotFound
from maps.pages import PageError, PageNotFound

# (error, expected status, expected field): written out here, not read from the table under test
CASES = [
    (ge.Invalid("crs", "unknown coordinate system 'x'"), 422, "crs"),
    (ge.TooLarge("points", "7 points is over the limit of 5"), 413, "points"),
    (ge.NotFound("station 9 does not exist"), 404, "request"),
    (ge.NotReady("there is no walking network yet"), 409, "request"),
    (generations.GenerationError("generation 3 is a draft, not a committed generation"), 409, "request"),
    (generations.GenerationNotFound("generation 99 does not exist"), 404, "request"),
    (generations.GenerationChoiceError("at: no generation was active then"), 422, "at"),
    (AreaQueryError("level: unknown level 'planet'"), 422, "level"),
    (propose.RedrawError("features: the collection is empty"), 422, "features"),
    (propose.ProposalTooLarge(250_000, 200_000), 413, "features"),
    (propose.RedrawNotFound("redraw 5 does not exist"), 404, "request"),
    (propose.RedrawConflict("redraw 5 is not valid"), 409, "request"),
    (loop.LoopError("category: unknown", field="category"), 422, "category"),
    (loop.RequestNotFound("request 7 does not exist"), 404, "request"),
    (loop.IllegalMove("to: cannot move from closed", field="to"), 409, "to"),
    (loop.StaleVersion("version: 3 is stale", field="version"), 409, "version"),
    (NoAddressNear(11_209_108.0, 250.0), 404, "request"),
    (WindowError("month: '2026-13' is not YYYY-MM"), 422, "month"),
    (HotspotError("unit: 'hex'; use grid or h3"), 422, "unit"),
    (ImportRefused("file: nothing was written", [{"feature": 1, "problem": "no geometry"}]), 422, "file"),
    (TileError("z", "zoom 40 is outside 0..22"), 422, "z"),
    (NoSuchGeneration("generation: there is no active generation"), 404, "generation"),
    (PageError("there are no grid areas in generation 1"), 409, "request"),
    (PageNotFound("redraw 5 does not exist"), 404, "request"),
    (PeopleError("assignments[1].role", "there is no role 'astronaut'"), 422, "assignments[1].role"),
    (PeopleConflict("code", "the role 'river_chief' already exists"), 409, "code"),
    (PeopleNotFound("aid", "person 3 has no assignment 7"), 404, "aid"),
]


def bare_app(exc: Exception) -> TestClient:
    """An app with only the error handlers and one route that raises `exc`."""
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom():
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("exc,status,field", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_each_domain_error_answers_its_status_in_the_one_shape(exc, status, field):
    r = bare_app(exc).get("/boom")
    assert r.status_code == status
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"] == str(exc)
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["message"] and str(exc).endswith(body["errors"][0]["message"])


def test_every_table_entry_is_covered_by_a_case():
    covered = {type(c[0]) for c in CASES}
    assert set(errors.STATUS_CODES) == covered


def test_a_server_path_never_reaches_the_client():
    exc = propose.RedrawError("/tmp/tmpab12/proposal.zip: cannot be read as a spatial file: "
                              "'/vsizip//tmp/tmpab12/proposal.zip' not recognized")
    body = bare_app(exc).get("/boom").json()
    assert "/tmp" not in body["detail"] and "vsizip" not in body["detail"] and "tmpab12" not in str(body)
    assert body["detail"] == "proposal.zip: cannot be read as a spatial file: 'proposal.zip' not recognized"
    assert errors.without_paths("grids: 370102001001003, 370102001001004 are apart") == \
        "grids: 370102001001003, 370102001001004 are apart"


def test_loop_error_keeps_its_extra_keys():
    exc = loop.LoopError("address: not found precisely", field="address", candidates=[{"address": "解放路1号"}])
    body = bare_app(exc).get("/boom").json()
    assert body["field"] == "address" and body["candidates"] == [{"address": "解放路1号"}]
    assert body["errors"] == [{"field": "address", "message": "not found precisely"}]


def test_an_unexpected_error_is_500_with_an_error_id_in_the_log_not_the_body(caplog):
    client = bare_app(RuntimeError("/srv/secret/module.py: index 0 is out of bounds"))
    with caplog.at_level(logging.ERROR, logger="wangge"):
        r = client.get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["detail"] == "internal error" and len(body["error_id"]) == 32
    assert "secret" not in r.text and "Traceback" not in r.text and "out of bounds" not in r.text
    records = [rec for rec in caplog.records if rec.name == "wangge" and body["error_id"] in rec.getMessage()]
    assert records and records[0].exc_info is not None
    assert "out of bounds" in caplog.text and "Traceback" in caplog.text


@pytest.fixture
def app_client(clean_db, pg_url):
    app = create_app(Settings(database_url=pg_url))

    @app.get("/v1/test-only-boom")
    def boom():
        raise ZeroDivisionError("/home/wangge/gis/secret.py division by zero")

    from gis import keys as gkeys
    from gis.store.db import session_scope

    with session_scope(clean_db) as s:
        admin = gkeys.create(s, "admin")
    with TestClient(app, raise_server_exceptions=False) as c:
        c.admin = {"X-API-Key": admin}  # /v1 answers 401 before routing without a key
        yield c


def test_the_real_app_answers_every_error_in_the_one_shape(app_client, caplog):
    r = app_client.get("/v1/locate?lon=117&lat=36")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "X-API-Key"
    assert isinstance(r.json()["detail"], str) and r.json()["errors"][0]["message"]
    r = app_client.get("/v1/no-such-route", headers=app_client.admin)
    assert r.status_code == 404 and "/v1/no-such-route" in r.json()["detail"]
    assert r.json()["errors"] == [{"field": "request", "message": r.json()["detail"]}]
    r = app_client.get("/v1/redraws/5/commit", headers=app_client.admin)
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    assert r.json()["detail"].startswith("GET is not allowed")
    with caplog.at_level(logging.ERROR, logger="wangge"):
        r = app_client.get("/v1/test-only-boom", headers=app_client.admin)
    assert r.status_code == 500 and set(r.json()) == {"detail", "error_id"}
    assert "secret" not in r.text and "division" not in r.text
    assert r.json()["error_id"] in caplog.text and "ZeroDivisionError" in caplog.text


class Points(BaseModel):
    """A body with a list of pairs (module level, so FastAPI resolves the annotation)."""

    points: list[tuple[float, float]]


def test_validation_errors_name_the_field_and_a_body_that_is_not_json():
    app = FastAPI()
    errors.install(app)

    @app.post("/b")
    def b(body: Points):
        return {}

    c = TestClient(app)
    r = c.post("/b", json={"points": [[1, 2], [3, "x"]]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "points[1][1]"
    assert r.json()["detail"].startswith("points[1][1]: ")
    r = c.post("/b", content=b"{bad", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "body", "message": "not valid JSON (at character 1)"}]
    r = c.post("/b")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"


def test_a_nul_character_is_a_422_not_a_500(app_client):
    """Text the database cannot store (NUL) answers 422 in plain words, wherever it reaches PostgreSQL."""
    for r in (app_client.get("/v1/requests", params={"grid": "A\x00B"}, headers=app_client.admin),
              app_client.post("/v1/redraws/split", json={"grid": "A\x00A", "parts": 2}, headers=app_client.admin)):
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["detail"] and "psycopg" not in r.text
