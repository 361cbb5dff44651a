"""Map pages (folium), served whole with their assets from this service so they work offline."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from api.deps import api_key_from, get_db, get_locator, get_settings_dep, require
from api.http import MonthParams, WindowParams, category_filter
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from maps import pages

router = APIRouter(prefix="/maps", tags=["maps"])


def _page(name: str, engine, loc, settings, **params) -> HTMLResponse:
    return HTMLResponse(pages.PAGES[name](engine, loc, settings, **params))


@router.get("/grids", response_class=HTMLResponse)
def grids(request: Request, _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
          engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """The hierarchy of the active generation: districts to units (as vector tiles at city scale),
    with the stations."""
    return _page("grids", engine, loc, settings, api_key=api_key_from(request))


@router.get("/coverage", response_class=HTMLResponse)
def coverage(minutes: float = 15.0, level: str = "community", _role: str = Depends(require("maps")),
             loc: LocateEngine = Depends(get_locator), engine: Engine = Depends(get_db),
             settings: Settings = Depends(get_settings_dep)):
    """15-minute circles of every station, each area's covered share, and the buildings left out."""
    return _page("coverage", engine, loc, settings, minutes=minutes, level=level)


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap(_role: str = Depends(require("maps")), window: WindowParams = Depends(),
            category: str | None = Depends(category_filter),
            step: Annotated[str, Query(pattern="^(hour|day|week)$", description="one frame per hour, day or week")] = "day",
            loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Requests as a heatmap with a time slider, one frame per hour, day or week."""
    return _page("heatmap", engine, loc, settings, **window.asdict(), category=category, step=step)


@router.get("/hotspots", response_class=HTMLResponse)
def hotspots(_role: str = Depends(require("maps")), window: WindowParams = Depends(),
             category: str | None = Depends(category_filter), loc: LocateEngine = Depends(get_locator),
             engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Grids coloured by Gi* hot/cold class (FDR) for the window."""
    return _page("hotspots", engine, loc, settings, **window.asdict(), category=category)


@router.get("/overdue", response_class=HTMLResponse)
def overdue(_role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Open requests past their deadline, by colour."""
    return _page("overdue", engine, loc, settings)


@router.get("/ranking", response_class=HTMLResponse)
def ranking(month: MonthParams = Depends(),
            _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """The monthly grid ranking as a choropleth (default: the last complete month), the two lowest outlined."""
    return _page("ranking", engine, loc, settings, month=month.month)


@router.get("/redraws/{redraw_id}", response_class=HTMLResponse)
def redraw(redraw_id: int, _role: str = Depends(require("redraw")), loc: LocateEngine = Depends(get_locator),
           engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """A redraw before (left) and after (right), moving together, with the buildings that move and
    every finding where it is (planners)."""
    return HTMLResponse(pages.redraw_page(engine, loc, settings, redraw_id=redraw_id))
