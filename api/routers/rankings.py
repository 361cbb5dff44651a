"""The monthly grid scoreboard, with the two lowest named."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, require
from api.http import MonthParams
from gis.errors import NotReady
from gis.locate.engine import LocateEngine
from gis.command.rankings import scoreboard
from gis.command.periods import TZ

router = APIRouter(prefix="/v1", tags=["rankings"])


@router.get("/rankings")
def rankings(_role: str = Depends(require("read")), engine: Engine = Depends(get_db),
             loc: LocateEngine = Depends(get_locator),
             month: MonthParams = Depends()):
    """Every grid's volume, on-time rate, satisfaction, repeat rate, score and rank for the month
    (default: the last complete month)."""
    if "grid" not in loc.levels:
        raise NotReady("there are no grids in the active generation")
    start, end = month.window(previous=True)
    with engine.connect() as conn:
        return scoreboard(conn, loc, start, end, as_of=datetime.now(TZ))
