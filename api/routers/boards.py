"""The grid's public board (公示栏): holding units' month, rounds and the community's service stars; names
only where the city's setting allows, residents' data never."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from api.http import MonthParams
from gis.field.board import board as grid_board
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["field work"])


@router.get("/boards/{code}")
def board(code: str, month: MonthParams = Depends(), _role: str = Depends(require("read")),
          engine: Engine = Depends(get_db), locator: LocateEngine = Depends(get_locator),
          settings: Settings = Depends(get_settings_dep)):
    """One grid's board for a month (default: this month's rounds, the last complete month's stars)."""
    start, end = month.window()
    stars_window = month.window(previous=True)
    with session_scope(engine) as session:
        return grid_board(session, locator.generation, code, start, end, f"{start:%Y-%m}", settings.board_names,
                          stars_window)
