"""GET /v1/codes/{code}: what a code was and what it became (the crosswalk), as JSON or CSV; and
GET /v1/codes.csv: a generation's whole crosswalk for other systems."""
from __future__ import annotations

import csv
import io
import re
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from api.deps import get_db, require
from gis.errors import Invalid, NotFound
from gis.store import codes
from gis.store.db import session_scope
from gis.vocab import LEVELS

router = APIRouter(prefix="/v1", tags=["codes"])

CROSSWALK_COLUMNS = ("generation", "kind", "level", "source", "from_code", "from_area_id", "to_code",
                     "to_area_id", "share", "at")
NOW_COLUMNS = ("code", "level", "area_id", "first", "last", "to_code", "to_name", "to_area_id", "share")


def _level(level: str | None) -> str | None:
    """The level asked for, or Invalid naming `level`."""
    if level is not None and level not in LEVELS:
        raise Invalid("level", f"{level!r} is not one of {', '.join(LEVELS)}")
    return level


def _format(fmt: str) -> str:
    """`json` or `csv`, or Invalid naming `format`."""
    if fmt not in ("json", "csv"):
        raise Invalid("format", f"{fmt!r} is not json or csv")
    return fmt


def _csv(columns: tuple[str, ...], rows: list[dict], filename: str) -> Response:
    """UTF-8 CSV with a header (a BOM so spreadsheet programs read the Chinese names right)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


CSV_ONLY = {200: {"description": "UTF-8 CSV with a header row",
                  "content": {"text/csv": {"schema": {"type": "string"}}}}}
CSV_TOO = {200: {"description": "JSON, or with `format=csv` UTF-8 CSV with a header row",
                 "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}}


@router.get("/codes.csv", response_class=Response, responses=CSV_ONLY)
def crosswalk_csv(generation: int | None = Query(None, description="default: the active generation"),
                  level: str | None = Query(None, description="district | street | community | grid | unit"),
                  _role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """Every crosswalk row a committed generation wrote (re-codings, redraws, imports, merges) as CSV."""
    level = _level(level)
    with session_scope(engine) as session:
        rows = codes.crosswalk_rows(session, generation, level)
    name = f"crosswalk-{rows[0]['generation']}.csv" if rows else "crosswalk.csv"
    return _csv(CROSSWALK_COLUMNS, rows, name)


@router.get("/codes/{code}", responses=CSV_TOO)
def code_history(code: str = Path(..., min_length=1, max_length=64), level: str | None = Query(None, description="district | street | community | grid | unit"),
                 format: Literal["json", "csv"] = Query("json", description="json | csv"),
                 _role: str = Depends(require("read")), engine: Engine = Depends(get_db)):
    """What a code was (level, name, area id, the generations it was in), what it became (the crosswalk
    rows out of it, followed to the codes of the active generation with shares) and what it came from;
    404 naming the code when it never was one. `format=csv`: one row per area that bore the code and
    code of the active generation it became, with the share."""
    level, fmt = _level(level), _format(format)
    code = code.strip()
    if not code or len(code) > 64:
        raise Invalid("code", "a code of 1 to 64 characters is needed")
    try:
        with session_scope(engine) as session:
            out = codes.history(session, code, level)
    except codes.CodeNotFound as exc:
        raise NotFound(str(exc)) from exc
    if fmt == "json":
        return out
    rows = [{"code": code, "level": w["level"], "area_id": w["area_id"], "first": w["first"], "last": w["last"],
             "to_code": d["code"], "to_name": d["name"], "to_area_id": d["area_id"], "share": d["share"]}
            for w in out["was"] for d in w["now"]]
    if not out["was"]:
        rows = [{"code": code, "level": d["level"], "to_code": d["code"], "to_name": d["name"],
                 "to_area_id": d["area_id"], "share": d["share"]} for d in out["now"]]
    return _csv(NOW_COLUMNS, rows, f"code-{re.sub(r'[^0-9A-Za-z_-]', '_', code)}.csv")
