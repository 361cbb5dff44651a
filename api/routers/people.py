"""People and their assignments to areas (by area id; codes resolved in the active generation):
list with phones masked unless the key may see them, add, remove an assignment."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from api.http import mask_phone
from gis import keys
from gis.store import people as store
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["people"])

EXAMPLE = {"name": "张伟", "phone": "13805310001", "organisation": "历下区城管局",
           "assignments": [{"role": "department_contact", "level": "grid", "area": "370102001001001"}]}


def shown(person: dict, role: str) -> dict:
    """A person as `role` may see them: the phone masked (as locate masks it) unless the role may see phones."""
    if keys.allows(role, "phones"):
        return person
    return {**person, "phone": mask_phone(person["phone"])}


@router.get("/people")
def list_people(role: str = Depends(require("people")), engine: Engine = Depends(get_db),
                area: Annotated[str | None, Query(max_length=32, description="an area's code: it and "
                                                  "every area under it")] = None,
                level: Annotated[str | None, Query(max_length=16, description="the assignments' level")] = None,
                role_: Annotated[str | None, Query(alias="role", max_length=32, description="a role code")] = None,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000):
    """People and their assignments (codes as the active generation bears them), filtered by area,
    level and role; phones masked unless the key's role may see them."""
    with session_scope(engine) as session:
        found = store.people(session, area, level, role_, limit)
    return {"people": [shown(p, role) for p in found], "count": len(found)}


@router.post("/people", status_code=201)
def add_person(body: dict = Body(..., examples=[EXAMPLE]), role: str = Depends(require("admin")),
               engine: Engine = Depends(get_db)):
    """A new person with their assignments, in one transaction; an unknown role or area is refused
    (422 naming it) and nothing is written. Locate names them at once."""
    with session_scope(engine) as session:
        return shown(store.add_person(session, body), role)


@router.delete("/people/{id}/assignments/{aid}")
def remove_assignment(id: int, aid: int, role: str = Depends(require("admin")), engine: Engine = Depends(get_db)):
    """Remove one assignment of a person (the person stays); the person as they are afterwards."""
    with session_scope(engine) as session:
        return shown(store.unassign(session, id, aid), role)
