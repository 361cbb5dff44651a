"""Flags and service stars: the month's top three per community (names only for staff, logged, or where
the city's setting allows) and the week's orders taken, finished and flags per person (staff)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from api.http import MonthParams
from gis import keys
from gis.field import flags, pii
from gis.field.coverage import week_window
from gis.field.stars import stars as top
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["field work"])


@router.get("/stars")
def stars(request: Request, month: MonthParams = Depends(),
          community: Annotated[str | None, Query(max_length=32)] = None,
          purpose: Annotated[str | None, Query(max_length=200, description="why you read names (logged)")] = None,
          role: str = Depends(require("read")), engine: Engine = Depends(get_db),
          locator: LocateEngine = Depends(get_locator), settings: Settings = Depends(get_settings_dep)):
    """The month's service stars (default: the last complete month): top three per community by flags."""
    start, end = month.window(previous=True)
    staff = keys.allows(role, "requests")
    names = staff or settings.board_names
    with session_scope(engine) as session:
        wall = top(session, locator.generation, start, end, community, names)
        if staff:
            pii.log_read(session, f"{role}:{request.state.key_prefix}", f"service stars {start:%Y-%m}"
                         + (f" community {community}" if community else ""),
                         pii.purpose_of(purpose, "表彰 recognising service"), sum(len(c["stars"]) for c in wall))
    return {"month": f"{start:%Y-%m}", "names_shown": names, "communities": wall}


@router.get("/flags/weekly")
def weekly(request: Request, week: Annotated[str | None, Query(max_length=10, description="ISO week YYYY-Www")] = None,
           purpose: Annotated[str | None, Query(max_length=200)] = None,
           role: str = Depends(require("requests")), engine: Engine = Depends(get_db)):
    """Per person, the week's orders taken and finished and flags earned (staff; the read is logged)."""
    start, end, label = week_window(week)
    with session_scope(engine) as session:
        rows = flags.weekly(session, start, end)
        pii.log_read(session, f"{role}:{request.state.key_prefix}", f"weekly flags {label}",
                     pii.purpose_of(purpose, "统计 weekly totals"), len(rows))
    return {"week": label, "start": start, "end": end, "people": rows}
