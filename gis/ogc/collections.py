"""The OGC collections (one per level, plus stations) and the documents that describe the service:
landing page, conformance, collection metadata with the generation's extent, queryables."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.ogc import crs as ocrs
from gis.ogc.errors import not_found
from gis.store.queries import GENERATION_AREAS

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]


@dataclass(frozen=True)
class Collection:
    """One collection: its id, the level it serves (None for stations), title and queryables."""

    id: str
    level: str | None
    title: str
    queryables: tuple[str, ...]


COLLECTIONS = {c.id: c for c in (
    Collection("districts", "district", "Districts 区", ("code", "parent")),
    Collection("streets", "street", "Streets 街道", ("code", "parent")),
    Collection("communities", "community", "Communities 社区", ("code", "parent")),
    Collection("grids", "grid", "Grids 网格", ("code", "parent", "tier")),
    Collection("units", "unit", "Ten-household units 十联户", ("code", "parent")),
    Collection("stations", None, "Service stations 服务站", ("code", "kind")),
)}

QUERYABLE_TYPES = {"code": "string", "parent": "string", "kind": "string", "tier": "integer"}
QUERYABLE_HELP = {"code": "the feature's code (its id)", "parent": "the parent area's code",
                  "kind": "the station's kind", "tier": "the grid's tier (1 = coarsest)"}


def get(collection_id: str) -> Collection:
    """The collection named `collection_id`; 404 NotFound otherwise."""
    c = COLLECTIONS.get(collection_id)
    if c is None:
        raise not_found(f"collection: no collection {collection_id[:100]!r}; the collections are "
                        f"{', '.join(COLLECTIONS)}")
    return c


def landing(base: str) -> dict:
    """The landing page with the links Part 1 asks for (self, service-desc, conformance, data)."""
    return {
        "title": "网格 Wangge", "description": "The grid map: districts, streets, communities, grids, units, stations.",
        "links": [
            {"rel": "self", "type": JSON, "title": "this document", "href": f"{base}/ogc"},
            {"rel": "service-desc", "type": OPENAPI, "title": "the API definition", "href": f"{base}/ogc/api"},
            {"rel": "conformance", "type": JSON, "title": "conformance classes", "href": f"{base}/ogc/conformance"},
            {"rel": "data", "type": JSON, "title": "collections", "href": f"{base}/ogc/collections"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "type": JSON,
             "title": "tile matrix sets", "href": f"{base}/ogc/tileMatrixSets"},
        ],
    }


def conformance() -> dict:
    """The conformance classes implemented."""
    return {"conformsTo": CONFORMANCE}


def extents(conn: Connection, generation: int) -> dict[str, list[float]]:
    """Each level's bounding box [minlon, minlat, maxlon, maxlat] in `generation`, and the stations'."""
    rows = conn.execute(text(f"""
        SELECT ga.level, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ga.level, ST_Extent(a.geom) AS e FROM {GENERATION_AREAS}
              WHERE ga.generation_id = :g GROUP BY ga.level) ga
        UNION ALL
        SELECT NULL, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(geom) AS e FROM station) s WHERE e IS NOT NULL
    """), {"g": generation}).all()
    return {r[0]: [float(v) for v in r[1:]] for r in rows}


def describe(c: Collection, base: str, bbox: list[float] | None, generation: int | None) -> dict:
    """One collection's metadata: extent (the generation's bbox), the CRS list, storageCrs, links."""
    href = f"{base}/ogc/collections/{c.id}"
    doc = {
        "id": c.id, "title": c.title, "itemType": "feature",
        "crs": ocrs.URIS, "storageCrs": ocrs.CRS84.uri,
        "links": [
            {"rel": "self", "type": JSON, "href": href},
            {"rel": "items", "type": GEOJSON, "title": "the features", "href": f"{href}/items"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json",
             "title": "queryables", "href": f"{href}/queryables"},
        ],
    }
    if generation is not None:
        doc["generation"] = generation
    if bbox is not None:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": ocrs.CRS84.uri}}
    if c.level is not None:
        doc["links"].append({"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                             "type": JSON, "title": "vector tiles", "href": f"{href}/tiles"})
    return doc


def listing(base: str, boxes: dict, generation: int | None) -> dict:
    """Every collection's metadata, with the links of the collections document."""
    return {
        "links": [{"rel": "self", "type": JSON, "href": f"{base}/ogc/collections"}],
        "crs": ocrs.URIS,
        "collections": [describe(c, base, boxes.get(c.level), generation) for c in COLLECTIONS.values()],
    }


def queryables(c: Collection, base: str) -> dict:
    """The JSON Schema of the properties one may filter by (`?parent=`, `?code=`, ...)."""
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/ogc/collections/{c.id}/queryables",
        "type": "object", "title": c.title,
        "properties": {q: {"type": QUERYABLE_TYPES[q], "title": q, "description": QUERYABLE_HELP[q]}
                       for q in c.queryables},
    }
