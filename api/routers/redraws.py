"""Planner redraws: propose (validation + impact, kept as a draft), read, commit."""
from __future__ import annotations

from fastapi import APIRouter, Body, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.deps import get_db, get_settings_dep, require
from gis.redraw import propose
from gis.redraw import asked
from gis.errors import Invalid
from gis.store.db import session_scope
from gis.settings import Settings

router = APIRouter(prefix="/v1", tags=["redraws"])


@router.post("/redraws")
def propose_drawn(body: dict = Body(..., examples=[{"level": "grid", "parent": "370102001001", "features": {
    "type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "370102001001001"},
                                               "geometry": {"type": "Polygon", "coordinates": [[
                                                   [117.0, 36.6], [117.01, 36.6], [117.01, 36.61], [117.0, 36.61],
                                                   [117.0, 36.6]]]}}]}}]),
            role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
            settings: Settings = Depends(get_settings_dep)):
    """Check new children for one parent (for grids: a community, or a grid whose next-tier grids are
    replaced); the answer lists every finding and what the redraw moves."""
    ranges = {"grid": (settings.grid_households_min, settings.grid_households_max),
              "unit": (settings.unit_households_min, settings.unit_households_max)}
    p = propose.parse(str(body.get("level", "")), str(body.get("parent", "")), body.get("features"),
                      max_vertices=settings.max_vertices)
    with session_scope(engine) as session:
        return propose.propose(session, p, f"api:{role}", ranges)


def _propose_made(engine, settings, role, make, *args, **kw):
    """Make a Proposal from the record (automatic, split, merge) and check it like a drawn one."""
    ranges = {"grid": (settings.grid_households_min, settings.grid_households_max),
              "unit": (settings.unit_households_min, settings.unit_households_max)}
    with session_scope(engine) as session:
        p = make(session, *args, **kw)
        return propose.propose(session, p, f"api:{role}", ranges)


@router.post("/redraws/auto")
def propose_auto(body: dict = Body(..., examples=[{"parent": "370102001001", "k": 8}]),
                 role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
                 settings: Settings = Depends(get_settings_dep)):
    """Redraw all grids under a parent (a community, or a grid for the next tier) automatically from their
    units: k contiguous grids of balanced households (k default: households / the middle of the grid
    target range), boundaries on streets where the balance allows, each estate (小区) whole unless
    `"split_estates": true`. With `"level": "unit"` and a grid as parent: regroup that grid's
    ten-household units from its registry entrances."""
    if body.get("level", "grid") == "unit":
        return _propose_made(engine, settings, role, asked.auto_units, str(body.get("parent", "")),
                             (settings.unit_households_min, settings.unit_households_max))
    if body.get("level", "grid") != "grid":
        raise Invalid("level", "grid (the grids under a community or a grid) or unit (a grid's units)")
    k = body.get("k")
    if k is not None and not isinstance(k, int):
        raise Invalid("k", "a whole number of grids")
    seed = body.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise Invalid("seed", f"{str(seed)[:20]!r} is not a whole number 0..4294967295")
    tol = body.get("tolerance", 0.10)
    if not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise Invalid("tolerance", "a share between 0 and 1 (0.10 = ±10 %)")
    return _propose_made(engine, settings, role, asked.auto, str(body.get("parent", "")), k,
                         (settings.grid_households_min, settings.grid_households_max), float(tol),
                         seed, split_estates=_split_estates(body))


def _split_estates(body: dict) -> bool:
    """The request's `split_estates` (default false: every estate stays whole); Invalid unless a boolean."""
    value = body.get("split_estates", False)
    if not isinstance(value, bool):
        raise Invalid("split_estates", "true (estates may be cut) or false (each estate stays whole)")
    return value


@router.post("/redraws/split")
def propose_split(body: dict = Body(..., examples=[{"grid": "370102001001003", "parts": 2}]),
                  role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
                  settings: Settings = Depends(get_settings_dep)):
    """Split one grid (of any tier) into `parts` balanced grids along its units' edges, each estate whole
    unless `"split_estates": true`."""
    parts = body.get("parts", 2)
    if not isinstance(parts, int) or isinstance(parts, bool):
        raise Invalid("parts", "a whole number")
    return _propose_made(engine, settings, role, asked.split, str(body.get("grid", "")), parts,
                         split_estates=_split_estates(body))


@router.post("/redraws/merge")
def propose_merge(body: dict = Body(..., examples=[{"grids": ["370102001001003", "370102001001004"]}]),
                  role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
                  settings: Settings = Depends(get_settings_dep)):
    """Merge neighbouring grids of one parent (a community or a grid) into one (it keeps the first code)."""
    grids = body.get("grids")
    if not isinstance(grids, list) or not all(isinstance(g, str) for g in grids):
        raise Invalid("grids", "a list of grid codes")
    return _propose_made(engine, settings, role, asked.merge, grids)


def _save(src, path) -> None:
    """Copy an upload (already spooled by the form parser) to `path` in 1 MB pieces."""
    import shutil

    with open(path, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


@router.post("/redraws/file")
async def propose_file(file: UploadFile = File(..., description="GeoJSON, GeoPackage or a zipped Shapefile"),
                       level: str = Form("grid"), parent: str = Form(...), code_field: str | None = Form(None),
                       name_field: str | None = Form(None), role: str = Depends(require("redraw")),
                       engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """A proposal uploaded as a file in any CRS it declares (multipart form: file, level, parent). Its
    size is capped by WANGGE_MAX_UPLOAD_MB, a zip's by WANGGE_MAX_UNZIPPED_MB / WANGGE_MAX_ZIP_MEMBERS."""
    import tempfile
    from pathlib import Path

    suffix = Path(file.filename or "upload").suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg", ".zip", ".kml", ".gml", ".fgb"):
        raise Invalid("file", f"{file.filename!r}; send GeoJSON, GeoPackage or a zipped Shapefile")
    with tempfile.TemporaryDirectory(prefix="wangge-upload-") as tmp:
        # saved under the planner's own file name (its last part only), so that an error names the file
        # they sent; the error table cuts the temporary folder from any message
        path = Path(tmp) / (Path(file.filename or "").name or f"proposal{suffix}")
        await run_in_threadpool(_save, file.file, path)
        return await run_in_threadpool(_propose_made, engine, settings, role,
                                       lambda _session: asked.from_file(path, level, parent, code_field, name_field,
                                                                       max_vertices=settings.max_vertices))


@router.get("/redraws/{redraw_id:int}")
def show(redraw_id: int, _role: str = Depends(require("redraw")), engine: Engine = Depends(get_db)):
    """One proposal as stored: findings, impact, draft generation and whether it was committed."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM redraw WHERE id = :i"), {"i": redraw_id}).mappings().first()
    if row is None:
        raise propose.RedrawNotFound(f"redraw {redraw_id} does not exist")
    out = dict(row)
    for k in ("created_at", "committed_at"):
        out[k] = out[k].isoformat() if out[k] else None
    return out


@router.post("/redraws/{redraw_id:int}/commit")
def commit(redraw_id: int, request: Request, role: str = Depends(require("redraw")),
           engine: Engine = Depends(get_db)):
    """Switch the active generation to the proposal's draft in one transaction; 409 when not valid or
    when another commit came first."""
    with session_scope(engine) as session:
        gen = propose.commit(session, redraw_id, f"api:{role}")
    request.app.state.engine_cache.invalidate()
    return {"generation": gen}


@router.get("/estates")
def estates(bbox: str, _role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """Residential estates (小区) meeting `bbox` = min_lon,min_lat,max_lon,max_lat, as GeoJSON (at most
    5,000, code order)."""
    from gis.importers.estates import estates_in, parse_bbox

    box = parse_bbox(bbox)
    with engine.connect() as conn:
        return estates_in(conn, box)
