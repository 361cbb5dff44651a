"""What the routers share over HTTP: the JSON response, phone masking, and parameter groups as FastAPI
dependencies (a point in any accepted CRS → WGS84, a generation choice, a time window, a month, the
category and status filters), each declared once so every route names and checks them alike."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import Query, Request, Response

from gis import keys
from gis.command.periods import TZ, IsoTime, month_window
from gis.coords import normalize_crs, to_wgs84
from gis.errors import Invalid
from gis.locate.engine import LocateEngine
from gis.store import generations
from gis.store.db import session_scope
from gis.store.models import REQUEST_STATUSES

CRS_HELP = ("coordinate system of lon/lat: wgs84 (EPSG:4326, CRS84), cgcs2000 (EPSG:4490), gcj02 or bd09; "
            "always longitude, latitude")


def json_response(payload: dict) -> Response:
    """Plain-dict answers serialised directly (no per-field encoder pass on the hot path)."""
    return Response(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough to recognise, not enough to call."""
    if not phone:
        return phone
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


def wgs84_point(lon: float, lat: float, crs: str, field: str = "crs") -> tuple[float, float]:
    """One lon, lat pair in `crs` (any accepted spelling) → WGS84; Invalid naming `field` for an unknown CRS."""
    x, y = to_wgs84(np.array([lon]), np.array([lat]), normalize_crs(crs, field))
    return float(x[0]), float(y[0])


Lon = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")]
Lat = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")]
Crs = Annotated[str, Query(max_length=100, description=CRS_HELP)]


@dataclass
class PointParams:
    """A required point: `lon`, `lat` in `crs`, range-checked by name; `x`, `y` are the WGS84 pair."""

    lon: Lon
    lat: Lat
    crs: Crs = "wgs84"
    x: float = field(init=False)
    y: float = field(init=False)

    def __post_init__(self):
        self.x, self.y = wgs84_point(self.lon, self.lat, self.crs)


@dataclass
class OptionalPointParams:
    """A point that may be absent (another parameter, e.g. an address, can stand for it); `xy` is the
    WGS84 pair or None. The CRS is checked either way."""

    lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False, description="longitude")] = None
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False, description="latitude")] = None
    crs: Crs = "wgs84"
    xy: tuple[float, float] | None = field(init=False, default=None)

    def __post_init__(self):
        self.crs = normalize_crs(self.crs)
        if self.lon is not None and self.lat is not None:
            self.xy = wgs84_point(self.lon, self.lat, self.crs)

    def missing(self) -> str:
        """The name of the coordinate that is missing (lon first)."""
        return "lon" if self.lon is None else "lat"


@dataclass
class GenerationParams:
    """Which generation answers: `generation=N` or the one active `at` a time (naive times are China
    Standard Time); both None means the active one."""

    generation: Annotated[int | None, Query(description="answer with this generation (history, drafts)")] = None
    at: Annotated[IsoTime | None, Query(description="answer with the generation active at this time (ISO)")] = None

    def __post_init__(self):
        if self.at is not None and self.at.tzinfo is None:
            self.at = self.at.replace(tzinfo=TZ)

    def chosen(self) -> bool:
        """True when the caller asked for something other than the active generation."""
        return self.generation is not None or self.at is not None


def pick_locator(request: Request, role: str, active: LocateEngine, generation: int | None,
                 at: datetime | None) -> LocateEngine:
    """The engine for `generation=N` or for the generation active `at` a time; the active one otherwise.
    Drafts (uncommitted redraws) only for planners; GenerationChoiceError (422) names the parameter."""
    sel = GenerationParams(generation, at)
    if not sel.chosen():
        return active
    with session_scope(request.app.state.engine) as session:
        gen = generations.choose(session, sel.generation, sel.at, drafts=keys.allows(role, "redraw"))
    return request.app.state.engine_cache.get_for(gen)


@dataclass
class WindowParams:
    """A window of requests: `start`/`end` (ISO), or `days` up to `end` or up to the newest request;
    the window itself is worked out by gis.command.periods.request_window."""

    start: Annotated[IsoTime | None, Query(description="ISO time; default: `days` before end")] = None
    end: Annotated[IsoTime | None, Query(description="ISO time; default: just after the newest request")] = None
    days: Annotated[float, Query(gt=0, le=366)] = 30

    def asdict(self) -> dict:
        """start, end and days as keyword arguments."""
        return asdict(self)


@dataclass
class MonthParams:
    """A calendar month `YYYY-MM` in China Standard Time (checked by gis.command.periods)."""

    month: Annotated[str | None, Query(max_length=7, description="YYYY-MM; default: see the route")] = None

    def window(self, previous: bool = False) -> tuple[datetime, datetime]:
        """[start, end) of the month; by default this month, or with `previous` the last complete one."""
        return month_window(self.month, previous=previous)


def one_of(name: str, value: str | None, allowed, what: str) -> str | None:
    """`value` when it is None or one of `allowed`; else Invalid naming the field, the value and the choices."""
    if value is None or value in allowed:
        return value
    raise Invalid(name, f"unknown {what} {value[:100]!r}; use one of {', '.join(allowed)}")


def category_filter(request: Request,
                    category: Annotated[str | None, Query(max_length=100, description="a category of the menu")] = None
                    ) -> str | None:
    """An optional request category, checked against the request rules' menu."""
    return one_of("category", category, tuple(request.app.state.rules.categories), "category")


STATUS_FILTERS = ("open",) + tuple(REQUEST_STATUSES)


def status_filter(status: Annotated[str | None, Query(max_length=40, description="a status, or 'open'")] = None
                  ) -> str | None:
    """An optional request status (or `open`: every status before closing), checked by name."""
    return one_of("status", status, STATUS_FILTERS, "status")
