"""Error answers that name what is wrong."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("query", "body", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "request"


def install(app: FastAPI) -> None:
    from fastapi.encoders import jsonable_encoder

    from gis.command.loop import LoopError
    from gis.command.periods import WindowError

    @app.exception_handler(LoopError)
    async def loop_error(request: Request, exc: LoopError):
        return JSONResponse(status_code=exc.status, content=jsonable_encoder({"detail": str(exc), **exc.extra}))

    @app.exception_handler(WindowError)
    async def window_error(request: Request, exc: WindowError):
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})
