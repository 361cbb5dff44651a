"""Coverage of rounds: a grid's week (households reached, units not visited for N weeks), the same per
grid of a community or street, and the rounds map (units coloured by days since their last visit)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, get_settings_dep, require
from gis.errors import Invalid
from gis.field.coverage import rounds
from gis.locate.engine import LocateEngine
from gis.settings import Settings
from gis.store.db import session_scope

ERROR_JSON = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
router = APIRouter(tags=["field work"])
Code = Annotated[str | None, Query(max_length=32)]


def _scope(grid: str | None, community: str | None, street: str | None) -> tuple[str, str]:
    """Exactly one of grid, community, street; Invalid naming `grid` otherwise."""
    given = [(s, c) for s, c in (("grid", grid), ("community", community), ("street", street)) if c]
    if len(given) != 1:
        raise Invalid("grid", "give exactly one of grid, community or street")
    return given[0]


@router.get("/v1/coverage/rounds", responses={404: {"description": "no such grid, community or street", **ERROR_JSON}})
def coverage_rounds(grid: Code = None, community: Code = None, street: Code = None,
                    week: Annotated[str | None, Query(max_length=10, description="ISO week YYYY-Www")] = None,
                    weeks: Annotated[int | None, Query(ge=1, le=52, description="not visited for this many weeks; "
                                                                                "default WANGGE_ROUND_WEEKS")] = None,
                    _role: str = Depends(require("read")), engine: Engine = Depends(get_db),
                    locator: LocateEngine = Depends(get_locator), settings: Settings = Depends(get_settings_dep)):
    """Share of households visited in the week per grid (and in all), units not visited for N weeks."""
    scope, code = _scope(grid, community, street)
    with session_scope(engine) as session:
        return rounds(session, locator.generation, scope, code, week, weeks or settings.round_weeks)


@router.get("/maps/rounds", response_class=HTMLResponse,
            responses={404: {"description": "no such grid, community or street", **ERROR_JSON}})
def rounds_map(grid: Code = None, community: Code = None, street: Code = None,
               _role: str = Depends(require("maps")), engine: Engine = Depends(get_db),
               locator: LocateEngine = Depends(get_locator), settings: Settings = Depends(get_settings_dep)):
    """Units coloured by days since their last visit, with a legend (the whole map, or one grid,
    community or street)."""
    from maps import pages

    scope = _scope(grid, community, street) if (grid or community or street) else None
    return HTMLResponse(pages.rounds_page(engine, locator, settings, scope=scope))
