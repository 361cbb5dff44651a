"""Public pledges (承诺践诺) of people who report to grids: record one, settle it as kept or broken, list
them (staff: names are personal data, so every list is logged)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from api.deps import get_db, get_locator, require
from gis.command.periods import IsoTime
from gis.errors import Invalid
from gis.field import pii, pledges
from gis.locate.engine import LocateEngine
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["field work"])


class NewPledge(BaseModel):
    """POST /v1/pledges' body: whose pledge, its words and when it falls due."""

    person_id: int = Field(..., ge=1, le=2_147_483_647)
    text: str = Field(..., min_length=1, max_length=pledges.TEXT_MAX)
    due_at: IsoTime | None = Field(None, description="when it falls due (ISO; China Standard Time when naive)")


class Settle(BaseModel):
    """POST /v1/pledges/{id}/settle's body."""

    state: Literal["kept", "broken"]


@router.post("/pledges", status_code=201)
def make(body: NewPledge, role: str = Depends(require("requests")), engine: Engine = Depends(get_db)):
    """Record a person's pledge (state `made`)."""
    with session_scope(engine) as session:
        return pledges.make(session, body.person_id, body.text, body.due_at, datetime.now(timezone.utc))


@router.post("/pledges/{pledge_id}/settle")
def settle(pledge_id: int, body: Settle, role: str = Depends(require("requests")),
           engine: Engine = Depends(get_db)):
    """Settle a pledge once as kept or broken (409 when it was settled already)."""
    with session_scope(engine) as session:
        return pledges.settle(session, pledge_id, body.state, datetime.now(timezone.utc))


@router.get("/pledges")
def listing(request: Request, person: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
            community: Annotated[str | None, Query(max_length=32)] = None,
            state: Annotated[Literal["made", "kept", "broken"] | None, Query()] = None,
            purpose: Annotated[str | None, Query(max_length=200, description="why you read them (logged)")] = None,
            role: str = Depends(require("requests")), engine: Engine = Depends(get_db),
            locator: LocateEngine = Depends(get_locator)):
    """Pledges newest first, of one person or of the people assigned to a community (by its code)."""
    area = None
    if community is not None:
        area = locator.area_id("community", community)
        if area is None:
            raise Invalid("community", f"{community} is not a community of generation {locator.generation}")
    with session_scope(engine) as session:
        rows = pledges.listing(session, person, area, state)
        pii.log_read(session, f"{role}:{request.state.key_prefix}", "pledges"
                     + (f" community {community}" if community else "") + (f" person {person}" if person else ""),
                     pii.purpose_of(purpose, "公示 pledges on the board"), len(rows))
    return {"pledges": rows}
