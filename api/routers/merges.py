"""Merging networks (多网合一): two or more source networks overlaid, their disagreements reported, one
network proposed as an ordinary redraw (commit it with POST /v1/redraws/{id}/commit)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from api.deps import get_db, get_settings_dep, require
from gis.errors import Invalid
from gis.redraw.merge import MAX_SOURCES, propose_merge as merge_proposal, source_from_features, source_from_file
from gis.settings import Settings
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["redraws"])

SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".kml", ".gml", ".fgb")
EXAMPLE = {"level": "grid", "parent": "370102001001", "sources": [
    {"name": "党建网格", "features": {"type": "FeatureCollection", "features": []}},
    {"name": "综治网格", "features": {"type": "FeatureCollection", "features": []}}]}


def _text(value, field: str) -> str | None:
    """An optional text field of the body; Invalid names it when it is not text."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable():
        raise Invalid(field, "text of at most 64 printable characters")
    return value.strip()


def _run(engine: Engine, settings: Settings, role: str, make_sources, level: str, parent: str | None) -> dict:
    """Read the sources and propose the merge in one transaction."""
    ranges = {"grid": (settings.grid_households_min, settings.grid_households_max)}
    sources = make_sources()
    with session_scope(engine) as session:
        return merge_proposal(session, sources, parent, f"api:{role}", ranges, level=level)


def _from_json(body: dict, settings: Settings):
    """The sources of a JSON body: `sources: [{"name", "features", "code_field"?, "name_field"?}]`."""
    items = body.get("sources")
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise Invalid("sources", "a list of {\"name\": ..., \"features\": FeatureCollection} objects")
    if not 2 <= len(items) <= MAX_SOURCES:
        raise Invalid("sources", f"give 2 to {MAX_SOURCES} source networks, not {len(items)}")
    from gis.redraw.propose import check_vertices

    check_vertices([f for s in items if isinstance(s.get("features"), dict)
                    and isinstance(s["features"].get("features"), list) for f in s["features"]["features"]],
                   settings.max_vertices)
    labels = [_text(s.get("name"), f"sources[{i}].name") or f"source{i + 1}" for i, s in enumerate(items)]
    return lambda: [source_from_features(lab, s.get("features"), _text(s.get("code_field"), f"sources[{i}].code_field"),
                                               _text(s.get("name_field"), f"sources[{i}].name_field"))
                    for i, (lab, s) in enumerate(zip(labels, items))]


@router.post("/merges", openapi_extra={"requestBody": {"content": {
    "application/json": {"schema": {"type": "object", "required": ["sources"], "properties": {
        "level": {"type": "string", "enum": ["grid"]}, "parent": {"type": "string"},
        "sources": {"type": "array", "minItems": 2, "items": {
            "type": "object", "required": ["features"], "properties": {
            "name": {"type": "string"}, "features": {"type": "object"}, "code_field": {"type": "string"},
            "name_field": {"type": "string"}}}}}}, "example": EXAMPLE},
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "names": {"type": "array", "items": {"type": "string"}}, "level": {"type": "string"},
        "parent": {"type": "string"}, "code_field": {"type": "string"}, "name_field": {"type": "string"}}}}}}})
async def propose_merge(request: Request, role: str = Depends(require("redraw")), engine: Engine = Depends(get_db),
                        settings: Settings = Depends(get_settings_dep)):
    """Overlay two or more source networks within the active generation's communities (or those of one
    `parent`): every disagreement (slivers, areas split differently, ground one source covers and
    another does not, households counted twice or not at all) with its place, and one merged network
    as a redraw proposal whose commit writes the crosswalk from every source code. Send a JSON body
    with named FeatureCollections (WGS84), or a multipart form: `files` (GeoJSON, GeoPackage, zipped
    Shapefile; any declared CRS), optional `names` (one label per file, in order), `parent`, `level`,
    `code_field`, `name_field`."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return await _multipart(request, engine, settings, role)
    try:
        body = await request.json()
    except ValueError:
        raise Invalid("body", "a JSON object with `sources`, or a multipart form with `files`") from None
    if not isinstance(body, dict):
        raise Invalid("body", "a JSON object with `sources`")
    level = _text(body.get("level"), "level") or "grid"
    parent = _text(body.get("parent"), "parent")
    make = _from_json(body, settings)
    return await run_in_threadpool(_run, engine, settings, role, make, level, parent)


def _save(src, path) -> None:
    """Copy an upload (already spooled by the form parser) to `path` in 1 MB pieces."""
    import shutil

    with open(path, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


async def _multipart(request: Request, engine: Engine, settings: Settings, role: str) -> dict:
    """The multipart form: the files saved under their own names in a temporary folder, then merged."""
    form = await request.form()
    files = [f for f in form.getlist("files") if hasattr(f, "filename")]
    if not 2 <= len(files) <= MAX_SOURCES:
        raise Invalid("files", f"upload 2 to {MAX_SOURCES} source files, not {len(files)}")
    names = [n for n in form.getlist("names") if isinstance(n, str)]
    if names and len(names) != len(files):
        raise Invalid("names", f"one label per file: {len(files)} files, {len(names)} names")
    level = _text(form.get("level"), "level") or "grid"
    parent = _text(form.get("parent"), "parent")
    code_field, name_field = _text(form.get("code_field"), "code_field"), _text(form.get("name_field"), "name_field")
    with tempfile.TemporaryDirectory(prefix="wangge-merge-") as tmp:
        paths = []
        for i, f in enumerate(files):
            base = Path(f.filename or "").name
            suffix = Path(base).suffix.lower()
            if suffix not in SUFFIXES:
                raise Invalid(f"files[{i}]", f"{base!r}; send GeoJSON, GeoPackage or a zipped Shapefile")
            folder = Path(tmp) / str(i)  # each in its own folder: two agencies may send the same file name
            folder.mkdir()
            paths.append(folder / base)
            await run_in_threadpool(_save, f.file, paths[-1])
        labels = [(_text(names[i], f"names[{i}]") if names else None) or Path(p).stem for i, p in enumerate(paths)]

        def make():
            return [source_from_file(p, lab, code_field, name_field, settings.max_vertices)
                    for p, lab in zip(paths, labels)]

        return await run_in_threadpool(_run, engine, settings, role, make, level, parent)
