"""`wangge import addresses`: the standard address registry from a CSV (UTF-8; GB18030 guessed or said).

Columns: address, lon, lat (required); crs (wgs84 | cgcs2000 | gcj02 | bd09, default wgs84),
households, building_code (optional). Any bad row refuses the whole file, every bad row listed by line;
a row whose address text is already registered replaces the old row.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.store import bulk
from gis.coords import CRS_NAMES, normalize_crs, to_wgs84
from gis.store.db import session_scope
from gis.address.text import parse_registry
from gis.importers.common import ImportRefused
from gis.importers.encoding import EncodingError, read_text
from gis.store import audit

REQUIRED = ("address", "lon", "lat")
# Column names agencies write in Chinese, as the standard ones.
CHINESE_COLUMNS = {"地址": "address", "详细地址": "address", "经度": "lon", "纬度": "lat", "坐标系": "crs",
                   "户数": "households", "楼栋编码": "building_code", "楼栋编号": "building_code"}


def read_rows(path: Path, encoding: str | None = None) -> tuple[list[dict], list[dict]]:
    """Parsed rows and problems (by line number, the header being line 1); the text in `encoding`, else
    strictly UTF-8, else GB18030 (gis.importers.encoding)."""
    rows, problems, _ = read_rows_encoded(path, encoding)
    return rows, problems


def read_rows_encoded(path: Path, encoding: str | None = None) -> tuple[list[dict], list[dict], dict]:
    """read_rows, and the encoding used ({"encoding", "how"})."""
    try:
        body, chosen = read_text(path, encoding)
    except EncodingError as exc:
        raise ImportRefused(str(exc)) from None
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot be read: {exc}") from exc
    with io.StringIO(body, newline="") as fh:
        try:
            reader = csv.DictReader(fh)
            header = [CHINESE_COLUMNS.get(h.strip(), h.strip()) for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ImportRefused(f"{path}: missing column(s) {', '.join(missing)}; the header is: {', '.join(header)}")
            rows, problems = [], []
            for line, raw in enumerate(reader, start=2):
                row, bad = _parse(raw)
                if bad:
                    problems += [{"line": line, "code": raw.get("address"), "problem": b} for b in bad]
                else:
                    rows.append(row)
        except UnicodeDecodeError as exc:
            raise ImportRefused(f"{path}: not UTF-8 text ({exc})") from exc
    return rows, problems, chosen.report()


def _parse(raw: dict) -> tuple[dict, list[str]]:
    bad = []
    address = (raw.get("address") or "").strip()
    if not address:
        bad.append("blank address")
    lon = lat = None
    try:
        lon = float(raw.get("lon"))
        if not (np.isfinite(lon) and -180 <= lon <= 180):
            bad.append(f"lon {raw.get('lon')!r} is out of range -180..180")
    except (TypeError, ValueError):
        bad.append(f"lon {raw.get('lon')!r} is not a number")
    try:
        lat = float(raw.get("lat"))
        if not (np.isfinite(lat) and -90 <= lat <= 90):
            bad.append(f"lat {raw.get('lat')!r} is out of range -90..90")
    except (TypeError, ValueError):
        bad.append(f"lat {raw.get('lat')!r} is not a number")
    crs = (raw.get("crs") or "").strip() or "wgs84"
    try:
        crs = normalize_crs(crs)
    except ValueError:
        bad.append(f"crs {crs!r} is not one of {', '.join(CRS_NAMES)}")
    hh_raw = (raw.get("households") or "").strip()
    households = 0
    if hh_raw:
        try:
            households = int(float(hh_raw))
            if households < 0 or float(hh_raw) != households:
                raise ValueError
        except ValueError:
            bad.append(f"households {hh_raw!r} is not a whole number ≥ 0")
    building = (raw.get("building_code") or "").strip() or None
    return {"address": address, "lon": lon, "lat": lat, "crs": crs, "households": households,
            "building_code": building}, bad


def import_addresses(engine: Engine, path, actor: str = "cli", encoding: str | None = None) -> dict:
    """Replace the address registry with a file's points, all or nothing; returns the report (with the
    text encoding used, said or guessed)."""
    path = Path(path)
    rows, problems, chosen = read_rows_encoded(path, encoding)
    if problems:
        raise ImportRefused(f"{path}: import refused, {len(problems)} bad row(s); nothing was written", problems)
    if not rows:
        raise ImportRefused(f"{path}: no rows")
    lon = np.array([r["lon"] for r in rows])
    lat = np.array([r["lat"] for r in rows])
    crs = np.array([r["crs"] for r in rows])
    for c in set(crs) - {"wgs84", "cgcs2000"}:
        sel = crs == c
        lon[sel], lat[sel] = to_wgs84(lon[sel], lat[sel], c)
    # the last row wins when the file repeats an address
    last = {r["address"]: i for i, r in enumerate(rows)}
    keep = sorted(last.values())
    with session_scope(engine) as session:
        texts = [rows[i]["address"] for i in keep]
        replaced = session.execute(text("DELETE FROM address WHERE address = ANY(:a)"), {"a": texts}).rowcount
        conn = session.connection().connection.driver_connection
        bulk.write_points(conn, "address", ("address", "components", "households", "building_code", "source"),
                          (texts, [parse_registry(t) for t in texts], [rows[i]["households"] for i in keep],
                           [rows[i]["building_code"] for i in keep], ["import"] * len(keep)),
                          lon[keep], lat[keep])
        report = {"inserted": len(keep) - replaced, "replaced": replaced, "rows": len(rows), "file": str(path),
                  "encoding": chosen}
        audit.write(session, actor, "import addresses", report)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE address"))
    return report
