"""The roles people hold for areas: the builtins and those the city adds (open roles)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis.store import people as store
from gis.store.db import session_scope

router = APIRouter(prefix="/v1", tags=["people"])


@router.get("/roles")
def list_roles(_role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """Every role (code, name, whether it roams the whole area, builtin) with how many hold it."""
    with engine.connect() as conn:
        return {"roles": store.roles(conn)}


@router.post("/roles", status_code=201)
def add_role(body: dict = Body(..., examples=[{"code": "safety_inspector", "name": "安全巡查员", "roams": True}]),
             _role: str = Depends(require("admin")), engine: Engine = Depends(get_db)):
    """Add a role the city uses; a malformed code is 422, a code already taken 409, each naming it."""
    with session_scope(engine) as session:
        return store.add_role(session, body.get("code"), body.get("name"), body.get("roams", False))


@router.delete("/roles/{code}", status_code=204)
def delete_role(code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="a role code")], _role: str = Depends(require("admin")), engine: Engine = Depends(get_db)):
    """Remove a role the city added and nobody holds; builtins cannot be deleted (409)."""
    with session_scope(engine) as session:
        store.delete_role(session, code)
