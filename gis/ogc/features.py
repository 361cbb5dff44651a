"""Items of a collection as GeoJSON, built in PostGIS one feature per row and streamed a page at a time:
the query parameters (Part 1 and Part 2) checked by name, the SQL for a page, the links to the next and
previous pages (ordered by code, so paging visits every feature exactly once)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from gis.ogc import crs as ocrs
from gis.ogc.collections import GEOJSON, Collection
from gis.ogc.errors import OgcError, bad_parameter, not_found
from gis.store import generations
from gis.store.queries import GENERATION_AREAS

DEFAULT_LIMIT, MAX_LIMIT = 10, 10_000
MAX_OFFSET = 10_000_000
COMMON = {"limit", "offset", "bbox", "bbox-crs", "crs", "generation", "datetime", "f"}
CHUNK = 1 << 16  # bytes gathered before a piece of the answer is sent


@dataclass
class Query:
    """One items request, checked: output CRS, bbox (stored lon/lat or in bbox-crs), paging, filters."""

    collection: Collection
    crs: ocrs.Crs = ocrs.CRS84
    bbox: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in bbox_crs's x/y (lon/lat, metres)
    bbox_crs: ocrs.Crs = ocrs.CRS84
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    filters: dict[str, str] = field(default_factory=dict)
    generation: int | None = None
    at: datetime | None = None


def _int(name: str, value: str, lo: int, hi: int | None = None) -> int:
    try:
        v = int(value)
    except ValueError:
        raise bad_parameter(name, f"{value[:50]!r} is not a whole number") from None
    if v < lo:
        raise bad_parameter(name, f"{v} is below the minimum {lo}")
    return v if hi is None else min(v, hi)


def _bbox(value: str, bcrs: ocrs.Crs) -> tuple[float, float, float, float]:
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise bad_parameter("bbox", "give four numbers (or six with heights) separated by commas")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise bad_parameter("bbox", "every value must be a number") from None
    if any(n != n or n in (float("inf"), float("-inf")) for n in nums):
        raise bad_parameter("bbox", "every value must be a finite number")
    a1, b1, a2, b2 = (nums[0], nums[1], nums[3], nums[4]) if len(nums) == 6 else nums
    x1, y1, x2, y2 = (b1, a1, b2, a2) if bcrs.lat_first else (a1, b1, a2, b2)
    if x1 > x2 or y1 > y2:
        raise bad_parameter("bbox", "the lower corner must come before the upper one (a box across the "
                                    "antimeridian is not supported)")
    if bcrs.srid != 3857 and not (-180 <= x1 <= 180 and -180 <= x2 <= 180 and -90 <= y1 <= 90 and -90 <= y2 <= 90):
        raise bad_parameter("bbox", "longitude must lie within -180..180 and latitude within -90..90")
    return x1, y1, x2, y2


def _instant(value: str) -> datetime:
    if "/" in value:
        raise bad_parameter("datetime", "give one instant (the map active then), not an interval")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_parameter("datetime", f"{value[:50]!r} is not an RFC 3339 date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse(c: Collection, params: list[tuple[str, str]], paging: bool = True) -> Query:
    """A checked Query from the request's parameters; 400 naming the first bad or unknown one."""
    seen: dict[str, str] = {}
    for k, v in params:
        if k in seen:
            raise bad_parameter(k, "given more than once")
        seen[k] = v
    allowed = COMMON | set(c.queryables) if paging else {"crs", "generation", "datetime", "f"}
    for k in seen:
        if k not in allowed:
            raise bad_parameter(k, f"unknown parameter; this request takes {', '.join(sorted(allowed))}")
    if seen.get("f", "json") not in ("json", "geojson"):
        raise bad_parameter("f", "only json is offered")
    q = Query(c, crs=ocrs.parse(seen.get("crs"), "crs"))
    q.bbox_crs = ocrs.parse(seen.get("bbox-crs"), "bbox-crs")
    if "bbox-crs" in seen and "bbox" not in seen:
        raise bad_parameter("bbox-crs", "given without bbox")
    if "bbox" in seen:
        q.bbox = _bbox(seen["bbox"], q.bbox_crs)
    if "limit" in seen:
        q.limit = _int("limit", seen["limit"], 1, MAX_LIMIT)  # above the maximum: the maximum (Part 1)
    if "offset" in seen:
        q.offset = _int("offset", seen["offset"], 0)
        if q.offset > MAX_OFFSET:
            raise bad_parameter("offset", f"{q.offset} is above the maximum {MAX_OFFSET}")
    if "generation" in seen:
        q.generation = _int("generation", seen["generation"], 1)
    if "datetime" in seen:
        q.at = _instant(seen["datetime"])
    for k in c.queryables:
        if k in seen:
            q.filters[k] = _int(k, seen[k], 1) if k == "tier" else seen[k][:200]
    return q


def resolve(conn: Connection, q: Query, drafts: bool) -> None:
    """Fix the generation the query reads (generation=, datetime=, or the active one); stations have none."""
    if q.collection.level is None:
        return
    try:
        gen = generations.choose(conn, q.generation, q.at, drafts)
    except generations.GenerationError as exc:
        name = "datetime" if q.at is not None else "generation"
        raise bad_parameter(name, str(exc).split(": ", 1)[-1]) from None
    if gen is None:
        raise not_found("generation: there is no active generation yet")
    q.generation = int(gen)


def _where(q: Query) -> tuple[str, dict]:
    level = q.collection.level
    if level is None:
        conds, params, geom = ["TRUE"], {}, "s.geom"
        cols = {"code": "s.id::text", "kind": "s.kind"}
    else:
        conds, params, geom = ["ga.generation_id = :g", "ga.level = :level"], {"g": q.generation, "level": level}, "a.geom"
        cols = {"code": "ga.code", "parent": "ga.parent_code", "tier": "ga.tier"}
    for k, v in q.filters.items():
        conds.append(f"{cols[k]} = :f_{k}")
        params[f"f_{k}"] = v
    if q.bbox is not None:
        env = ("ST_Transform(ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, 3857), 4326)" if q.bbox_crs.srid == 3857
               else "ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, 4326)")
        conds.append(f"{geom} && {env} AND ST_Intersects({geom}, {env})")
        params.update(zip(("bx1", "by1", "bx2", "by2"), q.bbox))
    return " AND ".join(conds), params


def _select(q: Query) -> str:
    g = q.crs.geom_sql("a.geom" if q.collection.level else "s.geom")
    geometry = f"ST_AsGeoJSON({g}, {q.crs.digits})::json"
    if q.collection.level is None:
        return (f"SELECT json_build_object('type', 'Feature', 'id', s.id::text, 'geometry', {geometry}, "
                f"'properties', json_build_object('code', s.id::text, 'name', s.name, 'kind', s.kind, "
                f"'address', s.address, 'parent', NULL, 'households', NULL))::text FROM station s")
    tier = ", 'tier', ga.tier" if q.collection.level == "grid" else ""
    return (f"SELECT json_build_object('type', 'Feature', 'id', ga.code, 'geometry', {geometry}, "
            f"'properties', json_build_object('code', ga.code, 'name', a.name, 'level', ga.level, "
            f"'parent', ga.parent_code, 'households', a.households{tier}))::text FROM {GENERATION_AREAS}")


def _order(q: Query) -> str:
    return "ORDER BY s.id" if q.collection.level is None else 'ORDER BY ga.code COLLATE "C"'


def count(conn: Connection, q: Query) -> int:
    """How many features match the query (all pages)."""
    where, params = _where(q)
    src = "station s" if q.collection.level is None else GENERATION_AREAS
    return int(conn.execute(text(f"SELECT count(*) FROM {src} WHERE {where}"), params).scalar())


def one(conn: Connection, q: Query, code: str) -> str:
    """One feature's GeoJSON text by its code; 404 NotFound when the collection has none such."""
    q.filters = {"code": code}
    where, params = _where(q)
    row = conn.execute(text(f"{_select(q)} WHERE {where} {_order(q)} LIMIT 1"), params).scalar()
    if row is None:
        raise not_found(f"feature: {q.collection.id} has no feature {code[:100]!r}")
    return row


def _href(base: str, params: list[tuple[str, str]], **replace) -> str:
    kept = [(k, v) for k, v in params if k not in replace]
    kept += [(k, str(v)) for k, v in replace.items()]
    return f"{base}?{urlencode(kept)}" if kept else base


def head(q: Query, matched: int, items_url: str, params: list[tuple[str, str]]) -> dict:
    """The collection's members other than the features: type, links (self, next, prev), counts, stamp."""
    links = [{"rel": "self", "type": GEOJSON, "href": _href(items_url, params)},
             {"rel": "collection", "type": "application/json", "href": items_url.rsplit("/", 1)[0]}]
    if q.offset + q.limit < matched:
        links.append({"rel": "next", "type": GEOJSON, "href": _href(items_url, params, offset=q.offset + q.limit)})
    if q.offset > 0:
        links.append({"rel": "prev", "type": GEOJSON,
                      "href": _href(items_url, params, offset=max(0, q.offset - q.limit))})
    doc = {"type": "FeatureCollection", "numberMatched": matched,
           "timeStamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
           "links": links}
    if q.generation is not None:
        doc["generation"] = q.generation
    return doc


def stream(engine: Engine, q: Query, top: dict) -> Iterator[bytes]:
    """The FeatureCollection as pieces of bytes, the features read through a server-side cursor so a
    page of 10,000 units is never held whole (neither as rows nor as one string)."""
    where, params = _where(q)
    sql = text(f"{_select(q)} WHERE {where} {_order(q)} LIMIT :lim OFFSET :off")
    params.update(lim=q.limit, off=q.offset)
    opening = json.dumps(top, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":['
    buf, size, n = [opening], len(opening), 0
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=500).execute(sql, params)
        for (feature,) in result:
            piece = feature if n == 0 else "," + feature
            n += 1
            buf.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield "".join(buf).encode()
                buf, size = [], 0
    buf.append(f'],"numberReturned":{n}}}')
    yield "".join(buf).encode()
