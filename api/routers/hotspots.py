"""Where requests cluster: Getis-Ord Gi* hotspots per grid or H3 cell, with the trend."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from gis.command import hotspots as hs
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from gis.command.periods import IsoTime, request_window

router = APIRouter(prefix="/v1", tags=["hotspots"])


@router.get("/hotspots")
def hotspots(_role: str = Depends(require("maps")), engine: Engine = Depends(get_db),
             loc: LocateEngine = Depends(get_locator), settings: Settings = Depends(get_settings_dep),
             start: Annotated[IsoTime | None, Query(description="ISO time; default: `days` before end")] = None,
             end: Annotated[IsoTime | None, Query(description="ISO time; default: just after the newest request")] = None,
             days: Annotated[float, Query(gt=0, le=366)] = 30,
             category: str | None = None,
             unit: Annotated[str, Query(pattern="^(grid|h3)$")] = "grid",
             resolution: Annotated[int, Query(ge=5, le=11)] = 8,
             permutations: Annotated[int | None, Query(ge=99, le=9999)] = None):
    """Counts, Gi* z and p, hot/cold class at 99/95/90 % (FDR) and trend, hottest first."""
    with engine.connect() as conn:
        s, e, prev = request_window(conn, start, end, days)
        try:
            return hs.hotspots(conn, loc, s, e, prev, category, unit, resolution,
                               permutations or settings.hotspot_permutations)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
