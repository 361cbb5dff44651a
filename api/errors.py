"""One table from domain errors to HTTP statuses, and one shape for every answer that is not a success:
`{"detail": "field: plain words", "errors": [{"field": ..., "message": ...}]}` (plus the extra keys a
request-loop error carries). Routers raise domain errors only; unexpected failures answer 500 with an
`error_id` that the log line (logger "wangge") carries too, with the traceback."""
from __future__ import annotations

import logging
import re
import uuid
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqlalchemy.exc import DataError

from gis import keys
from gis.address.geocode import NoAddressNear
from gis.command.hotspots import HotspotError
from gis.command.loop import IllegalMove, LoopError, RequestNotFound, StaleVersion
from gis.command.periods import WindowError
from gis.errors import Invalid, NotFound, NotReady, TooLarge
from gis.importers.common import ImportRefused
from gis.redraw.propose import ProposalTooLarge, RedrawConflict, RedrawError, RedrawNotFound
from gis.store.areas import AreaQueryError
from gis.store.people import PeopleConflict, PeopleError, PeopleNotFound
from gis.store.generations import GenerationChoiceError, GenerationError, GenerationNotFound
from gis.tiles import NoSuchGeneration, TileError
from maps.pages import PageError, PageNotFound

log = logging.getLogger("wangge")

# Each domain error's status; the most specific class in an error's MRO wins (Starlette looks handlers up
# along the MRO), so a subclass listed here overrides its base.
STATUS_CODES: dict[type[Exception], int] = {
    Invalid: 422,
    TooLarge: 413,
    NotFound: 404,
    NotReady: 409,
    GenerationError: 409,  # e.g. activating a draft
    GenerationNotFound: 404,
    GenerationChoiceError: 422,
    AreaQueryError: 422,
    RedrawError: 422,
    ProposalTooLarge: 413,  # over WANGGE_MAX_VERTICES, refused before any geometry is built
    NoAddressNear: 404,  # reverse geocoding beyond WANGGE_REVERSE_MAX_M
    RedrawNotFound: 404,
    RedrawConflict: 409,
    LoopError: 422,
    RequestNotFound: 404,
    IllegalMove: 409,
    StaleVersion: 409,
    WindowError: 422,
    HotspotError: 422,
    ImportRefused: 422,
    TileError: 422,
    NoSuchGeneration: 404,
    PageError: 409,  # the record lacks what the page draws
    PageNotFound: 404,
    PeopleError: 422,
    PeopleConflict: 409,  # a role code taken; a builtin or held role deleted
    PeopleNotFound: 404,
}

# What each capability lets a key do, in the words a 403 uses ("a consumer key may not open the command maps").
CAPABILITY_WORDS = {
    "read": "read areas, locate and geocode",
    "report": "raise and follow requests",
    "maps": "open the command maps",
    "requests": "run the request loop",
    "redraw": "propose, commit or roll back redraws",
    "phones": "see staff phone numbers",
    "people": "list people and their assignments",
    "admin": "administer keys",
}


def forbidden(role: str, capability: str) -> str:
    """A 403's plain words: what the role may not do, and which roles may."""
    roles = [r for r, caps in keys.CAPABILITIES.items() if capability in caps]
    who = f" (a {', '.join(roles[:-1])} or {roles[-1]} key may)" if len(roles) > 1 else \
        (f" (a {roles[0]} key may)" if roles else "")
    return f"a {role} key may not {CAPABILITY_WORDS.get(capability, capability)}{who}"


_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")
# A server file path (two or more segments, GDAL's /vsizip/ style prefixes included): only its last
# part, the file's own name, may reach a client.
_SERVER_PATH = re.compile(r"(?:/vsi[a-z0-9_]+/)*(?:/[^\s/:'\"]+)+/([^\s/:'\"]+)")


def without_paths(message: str) -> str:
    """`message` with every server file path cut to the file's name (uploads live in temporary folders)."""
    return _SERVER_PATH.sub(r"\1", message)


def field_of(message: str, field: str | None = None) -> str:
    """The field an error is about: given, or the `field:` its message starts with, else `request`."""
    if field:
        return str(field)
    m = _FIELD.match(message)
    return m.group(1) if m else "request"


def error_body(message: str, field: str | None = None, extra: dict | None = None) -> dict:
    """The one error shape: `detail` (a string) and `errors` naming the field, plus any extra keys."""
    name = field_of(message, field)
    prefix = f"{name}: "
    text = message[len(prefix):] if message.startswith(prefix) else message
    return {"detail": message, "errors": [{"field": name, "message": text}], **(extra or {})}


def _field(loc) -> str:
    """A validation error's location as a field name: `points[1][0]`, `assignees[0].name`, `body`."""
    parts = [str(p) for p in loc if p not in ("query", "body", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or ("body" if tuple(loc[:1]) == ("body",) else "request")


def _validation_item(e: dict) -> dict:
    """One pydantic error as {field, message}; a body that is not JSON at all is named `body`."""
    if e.get("type") == "json_invalid":
        pos = e.get("loc", ())[-1] if e.get("loc") else None
        return {"field": "body", "message": "not valid JSON" + (f" (at character {pos})" if isinstance(pos, int) else "")}
    return {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}


def _domain_handler(status: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        extra = dict(getattr(exc, "extra", None) or {})
        field = getattr(exc, "field", None) or extra.get("field")
        return JSONResponse(jsonable_encoder(error_body(without_paths(str(exc)), field, extra)), status_code=status)
    return handler


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_validation_item(e) for e in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


def _plain(request: Request, status: int, detail) -> str:
    """An HTTPException's words; Starlette's bare phrases for 404/405 said in full."""
    if not isinstance(detail, str):
        detail = str(detail)
    if status == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        return f"there is no route {request.url.path}"
    if status == 405 and detail == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
        return f"{request.method} is not allowed on {request.url.path}"
    return detail


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    body = error_body(_plain(request, exc.status_code, exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """500 with a fresh error_id; the traceback goes to the log with that id, never to the client."""
    error_id = uuid.uuid4().hex
    log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error", "error_id": error_id}, status_code=500)


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """422 for a value the database refuses to store or compare (a NUL character in text, a number out of
    its column's range): the client's input, said in plain words, never the driver's message."""
    return JSONResponse(error_body("request: a value holds a character the database cannot store (NUL, "
                                   "\\u0000) or a number out of range"), status_code=422)


def install(app: FastAPI, status_codes: dict[type[Exception], int] | None = None) -> None:
    """Register the error table's handlers, the validation and HTTP-exception shapes, and the 500."""
    for cls, status in (status_codes or STATUS_CODES).items():
        app.add_exception_handler(cls, _domain_handler(status))
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
