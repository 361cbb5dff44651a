"""Map pages (folium), served whole with their assets from this service so they work offline."""
from __future__ import annotations

from gis.command.periods import IsoTime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from api.deps import api_key_from, get_db, get_locator, get_settings_dep, require
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from maps import pages

router = APIRouter(prefix="/maps", tags=["maps"])


def _page(name: str, engine, loc, settings, **params) -> HTMLResponse:
    try:
        return HTMLResponse(pages.PAGES[name](engine, loc, settings, **params))
    except pages.PageError as exc:
        raise HTTPException(409, str(exc)) from exc


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


Start = Annotated[IsoTime | None, Query(description="ISO time; default: `days` before end")]
End = Annotated[IsoTime | None, Query(description="ISO time; default: just after the newest request")]
Days = Annotated[float, Query(gt=0, le=366)]


@router.get("/heatmap", response_class=HTMLResponse)
def heatmap(start: Start = None, end: End = None, days: Days = 30, category: str | None = None,
            step: Annotated[str, Query(pattern="^(hour|day|week)$", description="one frame per hour, day or week")] = "day",
            _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Requests as a heatmap with a time slider, one frame per hour, day or week."""
    return _page("heatmap", engine, loc, settings, start=start, end=end, days=days, category=category, step=step)


@router.get("/hotspots", response_class=HTMLResponse)
def hotspots(start: Start = None, end: End = None, days: Days = 30, category: str | None = None,
             _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
             engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Grids coloured by Gi* hot/cold class (FDR) for the window."""
    return _page("hotspots", engine, loc, settings, start=start, end=end, days=days, category=category)


@router.get("/overdue", response_class=HTMLResponse)
def overdue(_role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """Open requests past their deadline, by colour."""
    return _page("overdue", engine, loc, settings)


@router.get("/ranking", response_class=HTMLResponse)
def ranking(month: Annotated[str | None, Query(description="YYYY-MM; default: the last complete month")] = None,
            _role: str = Depends(require("maps")), loc: LocateEngine = Depends(get_locator),
            engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """The monthly grid ranking as a choropleth, the two lowest outlined."""
    return _page("ranking", engine, loc, settings, month=month)


@router.get("/redraws/{redraw_id}", response_class=HTMLResponse)
def redraw(redraw_id: int, _role: str = Depends(require("redraw")), loc: LocateEngine = Depends(get_locator),
           engine: Engine = Depends(get_db), settings: Settings = Depends(get_settings_dep)):
    """A redraw before (left) and after (right), moving together, with the buildings that move and
    every finding where it is (planners)."""
    try:
        return HTMLResponse(pages.redraw_page(engine, loc, settings, redraw_id=redraw_id))
    except pages.PageError as exc:
        raise HTTPException(404, str(exc)) from exc
