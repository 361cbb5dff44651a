"""Open311 GeoReport v2 at /open311/v2, for 12345 hotlines and city apps: discovery, services (the
menu), service definitions, requests GET and POST (form-encoded, `api_key` in the body as the spec says,
or the X-API-Key header), requests/{id}; JSON or XML by the suffix; errors as Open311 error arrays.

discovery and services are public, as the spec has them; request routes need a key with the `report`
capability (the key gate admits it, reading a POST's small, capped form body for `api_key`)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import get_db, get_geocoder, get_locator, get_rules
from api.http import wgs84_point
from gis import keys
from gis.command import loop
from gis.command import open311 as o
from gis.command.rules import Rules
from gis.locate.engine import LocateEngine
from gis.store.db import session_scope

PREFIX = "/open311/v2"
# Not in /openapi.json: GeoReport v2 is its own published specification (answers and errors in its shapes),
# found through its discovery document.
router = APIRouter(prefix=PREFIX, tags=["open311"], include_in_schema=False)
ROOTS = {"services": "services", "definition": "service_definition", "requests": "service_requests",
         "errors": "errors", "discovery": "discovery"}
POST_FIELDS = ("service_code", "lat", "long", "address_string", "address_id", "description", "email",
               "device_id", "account_id", "first_name", "last_name", "phone", "media_url")


def answer(fmt: str, kind: str, value, status: int = 200) -> Response:
    """`value` as JSON or as GeoReport XML under the root element for `kind`."""
    if fmt == "xml":
        return Response(o.to_xml(ROOTS[kind], value), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(value, status_code=status)


def error(fmt: str, err: o.Open311Error) -> Response:
    """An Open311 error array with its HTTP status."""
    return answer(fmt if fmt in ("json", "xml") else "json", "errors", err.body(), err.code)


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise o.Open311Error(404, f"format: {fmt!r}; use .json or .xml")
    return fmt


def _role(request: Request) -> str:
    """The key's role (left by the key gate); 403 as Open311 says when it may not raise requests."""
    role = getattr(request.state, "role", None)
    if role is None:
        raise o.Open311Error(403, "api_key: a key is needed (the api_key form field on POST, or X-API-Key)")
    if not keys.allows(role, "report"):
        raise o.Open311Error(403, f"api_key: a {role} key may not raise or follow requests")
    return role


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request):
    """Where this endpoint is and what it speaks."""
    try:
        return answer(_format(fmt), "discovery", o.discovery(str(request.base_url).rstrip("/") + PREFIX + "/"))
    except o.Open311Error as e:
        return error(fmt, e)


@router.get("/services.{fmt}")
def services(fmt: str, rules: Rules = Depends(get_rules)):
    """The menu: the request categories of the rules."""
    try:
        return answer(_format(fmt), "services", o.services(rules))
    except o.Open311Error as e:
        return error(fmt, e)


@router.get("/services/{code}.{fmt}")
def service_definition(code: str, fmt: str, rules: Rules = Depends(get_rules)):
    """A service's attributes (important, urgent: the colour and deadline)."""
    try:
        return answer(_format(fmt), "definition", o.definition(rules, code))
    except o.Open311Error as e:
        return error(fmt, e)


@router.get("/requests.{fmt}")
def requests_list(fmt: str, request: Request, rules: Rules = Depends(get_rules), engine: Engine = Depends(get_db)):
    """Service requests by id, service_code, status (open/closed) and start/end date (default 90 days)."""
    q = request.query_params
    try:
        _format(fmt)
        _role(request)
        with session_scope(engine) as session:
            rows = o.find(session, rules, ids=q.get("service_request_id"), service_code=q.get("service_code"),
                          status=q.get("status"), start_date=q.get("start_date"), end_date=q.get("end_date"))
        return answer(fmt, "requests", rows)
    except o.Open311Error as e:
        return error(fmt, e)


@router.get("/requests/{rid}.{fmt}")
def request_one(rid: str, fmt: str, request: Request, rules: Rules = Depends(get_rules),
                engine: Engine = Depends(get_db)):
    """One service request (an array of one, as the spec has it)."""
    try:
        _format(fmt)
        _role(request)
        if not rid.isdigit():
            raise o.Open311Error(404, f"service_request_id: no request {rid!r}")
        with session_scope(engine) as session:
            return answer(fmt, "requests", [o.one(session, rules, int(rid))])
    except o.Open311Error as e:
        return error(fmt, e)


@router.post("/requests.{fmt}")
async def request_create(fmt: str, request: Request, rules: Rules = Depends(get_rules),
                         engine: Engine = Depends(get_db), locator: LocateEngine = Depends(get_locator)):
    """Raise a request: service_code, lat/long or address_string (geocoded), description, attributes."""
    try:
        _format(fmt)
        role = _role(request)
        form = await _form(request)
        category = o.category_of(rules, form.get("service_code"))
        important, urgent = o.flags(form)
        lon, lat, address = await run_in_threadpool(_where, request, locator, form)
        description = (form.get("description") or "").strip() or None
        if description and len(description) > 4000:
            raise o.Open311Error(400, "description: at most 4000 characters")
        by = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
        actor = loop.Actor(role, request.state.key_prefix, f"open311 {by}" if by else "open311")
        try:
            out = await run_in_threadpool(_create, engine, rules, locator, lon, lat, category, important, urgent,
                                          description, address, actor)
        except loop.LoopError as e:
            raise o.Open311Error(400, str(e)) from None
        return answer(fmt, "requests", [{"service_request_id": out["id"], "service_notice": out["step"],
                                         "account_id": None}])
    except o.Open311Error as e:
        return error(fmt, e)


async def _form(request: Request):
    """The form body (form-encoded, as the spec says; the key gate capped it before anyone read it)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise o.Open311Error(400, "body: send the request form-encoded (application/x-www-form-urlencoded)")
    try:
        return await request.form(max_files=0, max_fields=100)
    except Exception:  # a malformed body: the parser's own words stay out
        raise o.Open311Error(400, "body: not a readable form") from None


def _where(request: Request, locator: LocateEngine, form) -> tuple[float, float, str | None]:
    """The request's WGS84 point: lat/long, else address_string geocoded (confidently) to a place."""
    address = (form.get("address_string") or "").strip() or None
    if address and len(address) > 200:
        raise o.Open311Error(400, "address_string: at most 200 characters")
    lat_s, lon_s = form.get("lat"), form.get("long")
    if lat_s or lon_s:
        try:
            lat, lon = float(lat_s), float(lon_s)
        except (TypeError, ValueError):
            raise o.Open311Error(400, "lat: give lat and long as numbers (WGS84)") from None
        if not (-90 <= lat <= 90) or lat != lat:
            raise o.Open311Error(400, f"lat: {lat_s!r} is not a latitude")
        if not (-180 <= lon <= 180) or lon != lon:
            raise o.Open311Error(400, f"long: {lon_s!r} is not a longitude")
        lon, lat = wgs84_point(lon, lat, "wgs84")
        return lon, lat, address
    if not address:
        raise o.Open311Error(400, "lat: give lat and long, or address_string")
    found = get_geocoder(request, locator).geocode(address, 3)
    if not found["confident"]:
        raise o.Open311Error(400, f"address_string: {address!r} is not found precisely; give lat and long "
                                  f"or a fuller address")
    top = found["candidates"][0]
    return top["lon"], top["lat"], address


def _create(engine, rules, locator, lon, lat, category, important, urgent, description, address, actor) -> dict:
    with session_scope(engine) as session:
        return loop.create(session, rules, locator, lon=lon, lat=lat, category=category, important=important,
                           urgent=urgent, text_=description, address=address, actor=actor)
