"""GET /v1/exports/{level}: one level of the map as a download for planners (GeoPackage, GeoJSON or a
zipped Shapefile), the same files as `wangge export`."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from sqlalchemy.engine import Engine
from starlette.background import BackgroundTask

from api.deps import get_db, require
from gis import keys
from gis.importers.export import FORMATS, ExportError, export
from gis.store.db import session_scope
from gis.vocab import LEVELS

router = APIRouter(prefix="/v1", tags=["exports"])

PLURALS = {"districts": "district", "streets": "street", "communities": "community", "grids": "grid",
           "units": "unit"}


@router.get("/exports/{level}", response_class=FileResponse,
            responses={200: {"content": {v[2]: {} for v in FORMATS.values()},
                             "description": "the file, as an attachment"}})
def download(level: str, format: Literal["gpkg", "geojson", "shp"] = "gpkg",
             crs: Annotated[str | None, Query(max_length=40, description="wgs84 (default), cgcs2000, EPSG:3857 or "
                                              "EPSG:n, e.g. a CGCS2000 Gauss–Krüger zone EPSG:4527")] = None,
             generation: int | None = None, parent: Annotated[str | None, Query(max_length=64)] = None,
             role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """A level's areas (`grid` or `grids`, ...) of the active generation or `generation=N`, optionally
    under `parent`, as a file: fields code, name, parent, households (and tier for grids)."""
    level = PLURALS.get(level, level)
    if level not in LEVELS:
        raise ExportError(f"level: unknown level {level!r}; use one of {', '.join(LEVELS)}")
    tmp = Path(tempfile.mkdtemp(prefix="wangge-export-"))
    try:
        path = tmp / f"{level}{FORMATS[format][1]}"
        with session_scope(engine) as session:
            done = export(session, level, path, crs, generation, parent, fmt=format,
                          drafts=keys.allows(role, "redraw"), crs_field="crs")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    name = f"{level}-g{done.generation}{FORMATS[format][1]}"
    return FileResponse(path, media_type=FORMATS[format][2], filename=name,
                        headers={"X-Generation": str(done.generation), "X-Features": str(done.features),
                                 "X-Crs": done.crs},
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))
