"""Database unreachable → 503 with Retry-After, in one place (the other errors live in api/errors.py).

A request that needs the database while it is down fails fast (the engine pings each checkout, gives up
connecting after `db_connect_timeout_s` and waiting for the pool after `db_pool_timeout_s`) and answers
503 here instead of hanging or answering 500. Query errors that are not about reaching the server are
re-raised untouched, for the general error handlers.
"""
from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from gis.store.db import is_unavailable

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
DETAIL = "the database is unavailable; try again shortly"


def unavailable_response(message: str = "cannot reach the database server") -> JSONResponse:
    """The one 503 answer: plain words, the field `database`, and when to retry."""
    return JSONResponse(status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)},
                        content={"detail": DETAIL, "errors": [{"field": "database", "message": message}]})


async def _handler(request: Request, exc: Exception):
    if not is_unavailable(exc):
        raise exc  # a query error, not an outage: the general handlers answer it
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return unavailable_response()


def install(app: FastAPI) -> None:
    """Answer 503 for every database outage error a route raises (SQLAlchemy or psycopg)."""
    for cls in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                psycopg.OperationalError, psycopg.InterfaceError):
        app.add_exception_handler(cls, _handler)
