"""/ogc: OGC API – Features (Part 1 Core + GeoJSON + OpenAPI 3.0, Part 2 CRS) and OGC API – Tiles over
the record. Thin: parameters are read as text and checked in gis.ogc (so a bad one is a 400 OGC
exception naming it), documents and SQL are built there; features stream a page at a time."""
from __future__ import annotations

import copy
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from api.routers.tiles import tile_response
from gis import keys
from gis import tiles as gt
from gis.ogc import collections as oc
from gis.ogc import crs as ocrs
from gis.ogc import features as of
from gis.ogc import tiles as ot
from gis.ogc.errors import OgcError, bad_parameter, not_found

# Not in /openapi.json: OGC routes answer OGC exceptions ({code, description}), not the /v1 error shape,
# and are described by their own OpenAPI 3.0 document at /ogc/api (the landing page's service-desc).
router = APIRouter(prefix="/ogc", tags=["ogc"], include_in_schema=False)
READ = Depends(require("read"))
Text = Query(None, max_length=1000)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(doc: dict, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(doc, status_code=status, headers=headers)


def _error(exc: OgcError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _params(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def _suffix(request: Request) -> str:
    """A tile URL template's query: the key again when it came in the URL (a map follows the template)."""
    key = request.query_params.get("api_key")
    return f"?api_key={quote(key)}" if key else ""


@router.get("", summary="Landing page")
@router.get("/", include_in_schema=False)
def landing(request: Request, role: str = READ):
    """The landing page: links to the API definition, conformance and the collections."""
    return _json(oc.landing(_base(request)))


@router.get("/api", summary="The API definition (OpenAPI 3.0)")
def api_definition(request: Request, role: str = READ):
    """The /ogc routes as an OpenAPI 3.0 document (the service-desc link)."""
    return JSONResponse(openapi_30(ogc_openapi(request.app)), media_type=oc.OPENAPI)


@router.get("/conformance", summary="Conformance classes")
def conformance(role: str = READ):
    """The conformance classes this service implements."""
    return _json(oc.conformance())


@router.get("/collections", summary="The collections")
def collections(request: Request, generation: str | None = Text, datetime: str | None = Text,
                role: str = READ, engine: Engine = Depends(get_db)):
    """Every collection with its extent in the active generation (or `generation=`, `datetime=`)."""
    try:
        q = of.parse(oc.COLLECTIONS["districts"], _params(request), paging=False)
        with engine.connect() as conn:
            of.resolve(conn, q, keys.allows(role, "redraw"))
            boxes = oc.extents(conn, q.generation)
    except OgcError as exc:
        return _error(exc)
    return _json(oc.listing(_base(request), boxes, q.generation))


def _collection_and_box(engine: Engine, cid: str, request: Request, role: str):
    c = oc.get(cid)
    q = of.parse(oc.COLLECTIONS["districts"], [p for p in _params(request) if p[0] != "api_key"], paging=False)
    with engine.connect() as conn:
        of.resolve(conn, q, keys.allows(role, "redraw"))
        boxes = oc.extents(conn, q.generation)
    return c, boxes.get(c.level), q.generation


@router.get("/collections/{cid}", summary="One collection")
def collection(cid: str, request: Request, generation: str | None = Text, datetime: str | None = Text,
               role: str = READ, engine: Engine = Depends(get_db)):
    """One collection's metadata: extent (the generation's bbox), CRS list, storageCrs, links."""
    try:
        c, box, gen = _collection_and_box(engine, cid, request, role)
    except OgcError as exc:
        return _error(exc)
    return _json(oc.describe(c, _base(request), box, gen))


@router.get("/collections/{cid}/queryables", summary="Queryables")
def queryables(cid: str, request: Request, role: str = READ):
    """The properties one may filter items by (`?parent=`, `?code=`)."""
    try:
        c = oc.get(cid)
    except OgcError as exc:
        return _error(exc)
    return JSONResponse(oc.queryables(c, _base(request)), media_type="application/schema+json")


@router.get("/collections/{cid}/items", summary="Features", response_class=StreamingResponse,
            responses={200: {"content": {oc.GEOJSON: {}}, "description": "a page of features"}})
def items(cid: str, request: Request, limit: str | None = Text, offset: str | None = Text,
          bbox: str | None = Text, bbox_crs: str | None = Query(None, alias="bbox-crs", max_length=200),
          crs: str | None = Text, generation: str | None = Text, datetime: str | None = Text,
          parent: str | None = Text, code: str | None = Text,
          role: str = READ, engine: Engine = Depends(get_db)):
    """A page of a collection's features (ordered by code; `limit` ≤ 10,000 with next/prev links),
    filtered by `bbox` (in `bbox-crs`), `parent`, `code`; in `crs`; in the generation asked for."""
    try:
        c = oc.get(cid)
        params = _params(request)
        q = of.parse(c, params)
        with engine.connect() as conn:
            of.resolve(conn, q, keys.allows(role, "redraw"))
            matched = of.count(conn, q)
    except OgcError as exc:
        return _error(exc)
    top = of.head(q, matched, f"{_base(request)}/ogc/collections/{c.id}/items", params)
    return StreamingResponse(of.stream(engine, q, top), media_type=oc.GEOJSON,
                             headers={"Content-Crs": ocrs.header(q.crs)})


@router.get("/collections/{cid}/items/{code}", summary="One feature",
            responses={200: {"content": {oc.GEOJSON: {}}, "description": "the feature"}})
def item(cid: str, code: str, request: Request, crs: str | None = Text, generation: str | None = Text,
         datetime: str | None = Text, role: str = READ, engine: Engine = Depends(get_db)):
    """One feature by its code (the feature id), in `crs`, in the generation asked for."""
    try:
        c = oc.get(cid)
        q = of.parse(c, _params(request), paging=False)
        with engine.connect() as conn:
            of.resolve(conn, q, keys.allows(role, "redraw"))
            body = of.one(conn, q, code)
    except OgcError as exc:
        return _error(exc)
    base = _base(request)
    links = (f'"links":[{{"rel":"self","type":"{oc.GEOJSON}","href":"{base}/ogc/collections/{c.id}/items/'
             f'{quote(code)}"}},{{"rel":"collection","type":"application/json","href":"{base}/ogc/collections/{c.id}"}}]')
    return Response(body[:-1] + "," + links + "}", media_type=oc.GEOJSON, headers={"Content-Crs": ocrs.header(q.crs)})


# -- tiles ------------------------------------------------------------------------------------------
@router.get("/tileMatrixSets", summary="Tile matrix sets")
def tile_matrix_sets(request: Request, role: str = READ):
    """The tile matrix sets offered (WebMercatorQuad)."""
    return _json(ot.tile_matrix_sets(_base(request)))


@router.get("/tileMatrixSets/{tms}", summary="One tile matrix set")
def tile_matrix_set(tms: str, request: Request, role: str = READ):
    """The WebMercatorQuad definition."""
    if tms != ot.TMS_ID:
        return _error(not_found(f"tileMatrixSet: only {ot.TMS_ID} is offered"))
    return _json(ot.tile_matrix_set(_base(request)))


def _area_collection(cid: str) -> oc.Collection:
    c = oc.get(cid)
    if c.level is None:
        raise not_found(f"collection: {cid} has no tiles")
    return c


def _tms(tms: str) -> None:
    if tms != ot.TMS_ID:
        raise not_found(f"tileMatrixSet: only {ot.TMS_ID} is offered")


@router.get("/collections/{cid}/tiles", summary="Tilesets of a collection")
def collection_tilesets(cid: str, request: Request, role: str = READ):
    """The vector tilesets of a collection."""
    try:
        c = _area_collection(cid)
    except OgcError as exc:
        return _error(exc)
    return _json(ot.tilesets(_base(request), c, _suffix(request)))


@router.get("/collections/{cid}/tiles/{tms}", summary="Tileset metadata")
def tileset(cid: str, tms: str, request: Request, role: str = READ, engine: Engine = Depends(get_db)):
    """One tileset's metadata: the tile URL template, the tiling scheme, the layer."""
    return _tileset_document(ot.tileset, cid, tms, request, role, engine)


@router.get("/collections/{cid}/tiles/{tms}/tilejson.json", summary="TileJSON")
def tilejson(cid: str, tms: str, request: Request, role: str = READ, engine: Engine = Depends(get_db)):
    """TileJSON 3.0.0 of the collection's tiles (MapLibre, QGIS add it by URL)."""
    return _tileset_document(ot.tilejson, cid, tms, request, role, engine)


def _tileset_document(build, cid: str, tms: str, request: Request, role: str, engine: Engine):
    """A document about one collection's tiles (`build`: tileset metadata or TileJSON) over the
    collection's extent, or the OGC exception naming what is wrong."""
    try:
        c = _area_collection(cid)
        _tms(tms)
        _c, box, _gen = _collection_and_box(engine, cid, request, role)
    except OgcError as exc:
        return _error(exc)
    return _json(build(_base(request), c, box, _suffix(request)))


def _coord(name: str, value: str) -> int:
    if not value.isdigit() or len(value) > 8:
        raise bad_parameter(name, f"{value[:20]!r} is not a tile index")
    return int(value)


@router.get("/collections/{cid}/tiles/{tms}/{z}/{y}/{x}", summary="One vector tile", response_class=Response,
            responses={200: {"content": {ot.MVT: {}}, "description": "the tile"},
                       204: {"description": "no feature meets the tile"},
                       304: {"description": "the tile the client holds is current"}})
def ogc_tile(cid: str, tms: str, z: str, y: str, x: str, request: Request, generation: str | None = Text,
             role: str = READ, engine: Engine = Depends(get_db)):
    """Tile z/y/x (tileMatrix/tileRow/tileCol) of a collection in WebMercatorQuad, as Mapbox vector tile;
    kept on disk per generation, answered with a strong ETag (304 on If-None-Match)."""
    try:
        c = _area_collection(cid)
        _tms(tms)
        zi, yi, xi = _coord("tileMatrix", z), _coord("tileRow", y), _coord("tileCol", x)
        gen = None
        if generation is not None:
            gen = _coord("generation", generation)
        try:
            gt.check_address(c.level, zi, xi, yi)
        except gt.TileError as exc:
            names = {"z": "tileMatrix", "y": "tileRow", "x": "tileCol"}
            raise not_found(f"{names.get(exc.field, exc.field)}: {str(exc).split(': ', 1)[-1]}") from None
    except OgcError as exc:
        return _error(exc)
    settings = request.app.state.settings
    try:
        t = gt.cached_tile(engine, gt.cache_for(settings.home_abs, settings.tile_cache_mb), c.level, zi, xi, yi,
                           gen, drafts=keys.allows(role, "redraw"))
    except gt.NoSuchGeneration as exc:
        return _error(bad_parameter("generation", str(exc).split(": ", 1)[-1]) if gen is not None
                      else not_found(str(exc)))
    return tile_response(request, t, explicit=gen is not None)


def ogc_openapi(app) -> dict:
    """FastAPI's description of the /ogc routes alone (they are left out of the app's /openapi.json)."""
    routes = []
    for route in router.routes:
        if hasattr(route, "include_in_schema") and route.path != "/ogc/":
            shown = copy.copy(route)
            shown.include_in_schema = True
            routes.append(shown)
    return get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)


def openapi_30(doc: dict) -> dict:
    """The app's OpenAPI document cut to the /ogc routes and written as OpenAPI 3.0 (nullable, not a
    null type), as OGC API – Features' oas30 conformance class asks."""
    out = copy.deepcopy(doc)
    out["openapi"] = "3.0.3"
    out["paths"] = {p: v for p, v in out.get("paths", {}).items() if p.startswith("/ogc")}
    out["info"] = dict(out.get("info", {}), title="网格 Wangge – OGC API")
    schemas = out.get("components", {}).get("schemas", {})
    keep, todo = set(), [out["paths"]]
    while todo:  # only the schemas the /ogc paths reach
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[-1]
                if name not in keep and name in schemas:
                    keep.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    out["components"] = {"schemas": {k: v for k, v in schemas.items() if k in keep},
                         "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}}
    out["security"] = [{"ApiKey": []}]

    def fix(node):
        if isinstance(node, dict):
            for key in ("anyOf", "oneOf"):
                alts = node.get(key)
                if isinstance(alts, list) and any(a == {"type": "null"} for a in alts):
                    rest = [a for a in alts if a != {"type": "null"}]
                    del node[key]
                    if len(rest) == 1:
                        node.update(rest[0])
                    else:
                        node[key] = rest
                    node["nullable"] = True
            node.pop("examples", None) if isinstance(node.get("examples"), list) else None
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)
    fix(out)
    return out
