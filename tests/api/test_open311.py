"""Open311 GeoReport v2 at /open311/v2 on the small demo city, with the published examples of
mysociety/fixmystreet t/open311/endpoint.t (GET Service List, GET Service Definition, POST Service
Request validation and valid, GET Service Requests) adapted to our menu: structure and values, JSON and XML."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.command import loop
from gis.command.rules import load_rules
from gis.settings import Settings
from gis.store.db import session_scope
from tests.conftest import fresh_demo

V2 = "/open311/v2"
POINT = {"lat": "36.618", "long": "116.876"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
SERVICE_KEYS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
REQUEST_KEYS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]


@pytest.fixture(scope="module")
def demo(engine, pg_url):
    report = fresh_demo(engine)
    from gis import keys
    with session_scope(engine) as s:
        report["keys"]["planner"] = keys.create(s, "planner")
    app = create_app(Settings(database_url=pg_url, escalation_interval_s=0, open311_max_body_kb=4))
    with TestClient(app) as c:
        yield c, engine, report["keys"]


def post(c, fmt="json", **form):
    return c.post(f"{V2}/requests.{fmt}", data=form)


def children(xml: str, root: str, item: str) -> list[dict]:
    """An Open311 XML list as dicts of element text (nested lists left as elements)."""
    doc = ET.fromstring(xml.encode("utf-8"))
    assert doc.tag == root
    return [{e.tag: (e.text or "") for e in it} for it in doc.findall(item)]


def test_service_list(demo):
    c, _, _ = demo
    rules = load_rules()
    r = c.get(f"{V2}/services.json")
    assert r.status_code == 200
    got = r.json()
    assert [s["service_code"] for s in got] == list(rules.categories)
    assert all(list(s) == SERVICE_KEYS for s in got)
    assert got[3] == {"service_code": "环境卫生", "service_name": "环境卫生",
                      "description": "环境卫生（大家事），由区城市管理局负责", "metadata": "true", "type": "realtime",
                      "keywords": "大家事", "group": "shared"}
    xml = c.get(f"{V2}/services.xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("text/xml")
    assert xml.text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<services>\n  <service>\n'
                               '    <service_code>政策咨询</service_code>\n')
    assert children(xml.text, "services", "service") == got


def test_service_definition(demo):
    c, _, _ = demo
    r = c.get(f"{V2}/services/环境卫生.json")
    assert r.status_code == 200
    d = r.json()
    assert d["service_code"] == "环境卫生" and [a["code"] for a in d["attributes"]] == ["important", "urgent"]
    assert d["attributes"][0] == {"variable": "true", "code": "important", "datatype": "singlevaluelist",
                                  "required": "false", "datatype_description": "true | false", "order": 1,
                                  "description": d["attributes"][0]["description"],
                                  "values": [{"key": "true", "name": "重要"}, {"key": "false", "name": "一般"}]}
    doc = ET.fromstring(c.get(f"{V2}/services/环境卫生.xml").content)
    assert doc.tag == "service_definition" and doc.findtext("service_code") == "环境卫生"
    attrs = doc.find("attributes").findall("attribute")
    assert [a.findtext("code") for a in attrs] == ["important", "urgent"]
    assert [(v.findtext("key"), v.findtext("name")) for v in attrs[1].find("values").findall("value")] == \
        [("true", "紧急"), ("false", "一般")]
    missing = c.get(f"{V2}/services/BADGER.json")
    assert missing.status_code == 404 and missing.json() == [{"code": 404, "description": "service_code: no service 'BADGER'"}]
    missing = c.get(f"{V2}/services/BADGER.xml")
    assert missing.status_code == 404
    assert children(missing.text, "errors", "error") == [{"code": "404", "description": "service_code: no service 'BADGER'"}]


def test_post_validation(demo):
    c, engine, keys = demo
    key = keys["consumer"]
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM request")).scalar()
    r = post(c, api_key=key)
    assert r.status_code == 400 and r.json() == [{"code": 400, "description": "service_code: required"}]
    r = post(c, service_code="环境卫生", **POINT)
    assert r.status_code == 403 and r.json()[0]["code"] == 403 and "api_key" in r.json()[0]["description"]
    r = post(c, api_key="wg_not-a-key", service_code="环境卫生", **POINT)
    assert r.status_code == 403 and "unknown" in r.json()[0]["description"]
    r = post(c, api_key=key, service_code="BADGER", **POINT)  # has moved the goalposts
    assert r.status_code == 404 and r.json()[0]["description"].startswith("service_code: no service 'BADGER'")
    r = post(c, api_key=key, service_code="环境卫生", first_name="Bob", last_name="Mould")
    assert r.status_code == 400 and r.json()[0]["description"] == "lat: give lat and long, or address_string"
    r = post(c, api_key=key, service_code="环境卫生", **POINT, **{"attribute[important]": "starfish"})
    assert r.status_code == 400 and r.json()[0]["description"].startswith("attribute[important]:")
    r = post(c, "xml", api_key=key, service_code="环境卫生", address_string="火星路999号")
    assert r.status_code == 400
    assert children(r.text, "errors", "error")[0]["description"].startswith("address_string:")
    r = post(c, api_key=key, service_code="环境卫生", lat="91", long="116.8")
    assert r.status_code == 400 and r.json()[0]["description"].startswith("lat:")
    r = post(c, api_key=key, service_code="环境卫生", lat="10", long="10")  # in no grid
    assert r.status_code == 400 and "no grid" in r.json()[0]["description"]
    r = post(c, api_key=keys["planner"], service_code="环境卫生", **POINT)  # may not raise requests
    assert r.status_code == 403 and "planner" in r.json()[0]["description"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM request")).scalar() == before


def test_key_entry_rules(demo):
    c, _, keys = demo
    # a key in the URL: never; in the header: yes; in a body over the cap: 413 before it is read
    r = c.get(f"{V2}/requests.json", params={"api_key": keys["consumer"]})
    assert r.status_code == 403 and "URL" in r.json()[0]["description"]
    assert c.get(f"{V2}/requests.json").status_code == 403
    assert c.get(f"{V2}/requests.json", headers={"X-API-Key": keys["consumer"]}).status_code == 200
    big = post(c, api_key=keys["consumer"], service_code="环境卫生", description="x" * 5000, **POINT)
    assert big.status_code == 413 and "WANGGE_OPEN311_MAX_BODY_KB" in big.json()[0]["description"]

    def chunks():
        yield b"api_key=" + keys["consumer"].encode() + b"&description="
        for _ in range(10):
            yield b"y" * 1000
    streamed = c.post(f"{V2}/requests.xml", content=chunks(), headers=FORM)
    assert streamed.status_code == 413 and ET.fromstring(streamed.content).tag == "errors"
    # the cap holds with the key in the header too
    big = c.post(f"{V2}/requests.json", data={"service_code": "环境卫生", "description": "x" * 5000, **POINT},
                 headers={"X-API-Key": keys["consumer"]})
    assert big.status_code == 413
    # a form key is taken only on Open311: elsewhere the body is never read for one
    assert c.post("/v1/requests", data={"api_key": keys["consumer"]}).status_code == 401
    # discovery and the menu need no key
    d = c.get(f"{V2}/discovery.json").json()
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert d["endpoints"][0]["url"].endswith("/open311/v2/")
    assert c.get(f"{V2}/services.csv").status_code == 404


def test_post_valid_and_get_requests(demo):
    c, engine, keys = demo
    key = keys["consumer"]
    r = post(c, api_key=key, service_code="环境卫生", description="楼道垃圾堆放", first_name="Bob", last_name="Mould",
             **POINT, **{"attribute[important]": "true", "attribute[urgent]": "true"})
    assert r.status_code == 200, r.text
    (made,) = r.json()
    assert list(made) == ["service_request_id", "service_notice", "account_id"]
    assert made["service_notice"] == "信息采集" and made["account_id"] is None
    rid = made["service_request_id"]
    with engine.connect() as conn:
        addr = conn.execute(text("SELECT address FROM address ORDER BY id LIMIT 1")).scalar()
        row = conn.execute(text("SELECT category, colour, created_at, due_at, grid_code FROM request WHERE id = :i"),
                           {"i": rid}).one()
    assert row.category == "环境卫生" and row.colour == "red" and row.grid_code  # important + urgent = red, 24 h
    x = post(c, "xml", api_key=key, service_code="设施维修", address_string=addr)
    assert x.status_code == 200, x.text
    (made_x,) = children(x.text, "service_requests", "request")
    rid_x = int(made_x["service_request_id"])
    assert x.text == ('<?xml version="1.0" encoding="utf-8"?>\n<service_requests>\n  <request>\n'
                      f'    <service_request_id>{rid_x}</service_request_id>\n'
                      '    <service_notice>信息采集</service_notice>\n    <account_id></account_id>\n'
                      '  </request>\n</service_requests>\n')
    h = {"X-API-Key": key}
    one = c.get(f"{V2}/requests/{rid}.json", headers=h)
    assert one.status_code == 200
    (got,) = one.json()
    assert list(got) == REQUEST_KEYS
    assert got == {"service_request_id": rid, "status": "open", "status_notes": "信息采集", "service_name": "环境卫生",
                   "service_code": "环境卫生", "description": "楼道垃圾堆放", "agency_responsible": "区城市管理局",
                   "service_notice": "信息采集",
                   "requested_datetime": row.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "updated_datetime": got["updated_datetime"],
                   "expected_datetime": row.due_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "address": None, "address_id": None, "zipcode": None, "lat": 36.618, "long": 116.876,
                   "media_url": None}
    assert (row.due_at - row.created_at).total_seconds() == 24 * 3600
    # the geocoded one keeps its address; XML carries the same values
    (gx,) = children(c.get(f"{V2}/requests/{rid_x}.xml", headers=h).text, "service_requests", "request")
    assert list(gx) == REQUEST_KEYS and gx["address"] == addr and gx["service_code"] == "设施维修"
    assert gx["agency_responsible"] == "区住房和城乡建设局" and gx["status"] == "open"
    # close one: rejected with a note → closed, the note as status_notes
    rules = load_rules()
    with session_scope(engine) as s:
        loop.move(s, rules, rid_x, "rejected", 1, loop.SYSTEM, note="重复上报")
    (gx,) = children(c.get(f"{V2}/requests/{rid_x}.xml", headers=h).text, "service_requests", "request")
    assert gx["status"] == "closed" and gx["status_notes"] == "重复上报"
    # filters: service_code, status, dates
    listed = c.get(f"{V2}/requests.json", headers=h, params={"service_code": "环境卫生"}).json()
    assert rid in [x["service_request_id"] for x in listed] and {x["service_code"] for x in listed} == {"环境卫生"}
    closed = c.get(f"{V2}/requests.json", headers=h, params={"status": "closed"}).json()
    assert rid_x in [x["service_request_id"] for x in closed] and {x["status"] for x in closed} == {"closed"}
    opened = c.get(f"{V2}/requests.json", headers=h, params={"status": "open"}).json()
    assert rid in [x["service_request_id"] for x in opened] and rid_x not in [x["service_request_id"] for x in opened]
    later = c.get(f"{V2}/requests.xml", headers=h, params={"start_date": "2999-01-01T00:00:00Z"})
    assert later.status_code == 200 and later.text == ('<?xml version="1.0" encoding="utf-8"?>\n'
                                                        '<service_requests>\n</service_requests>\n')
    by_ids = c.get(f"{V2}/requests.json", headers=h, params={"service_request_id": f"{rid},{rid_x}"}).json()
    assert sorted(x["service_request_id"] for x in by_ids) == sorted([rid, rid_x])
    bad = c.get(f"{V2}/requests.json", headers=h, params={"status": "pending"})
    assert bad.status_code == 400 and bad.json()[0]["description"].startswith("status:")
    bad = c.get(f"{V2}/requests.json", headers=h, params={"start_date": "yesterday"})
    assert bad.status_code == 400 and bad.json()[0]["description"].startswith("start_date:")
    assert c.get(f"{V2}/requests/99999999.json", headers=h).json() == [
        {"code": 404, "description": "service_request_id: no request 99999999"}]
