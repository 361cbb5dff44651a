"""`wangge import stations`: service stations (points with name and kind) from any OGR-readable file,
or a CSV with lon/lat columns. A kind is free text, stored as given (trimmed); the three known kinds may
also be given by their Chinese names and are stored by their English ones."""
from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from gis.store import bulk

from gis.store import generations
from gis.store.db import session_scope
from gis.importers.common import ImportRefused, pick_field, read_frame, to_wgs84
from gis.importers.encoding import EncodingError, read_text
from gis.store import audit
from gis.vocab import STATION_KIND_MAX, STATION_KINDS


KIND_NAMES = {label: kind for kind, label in STATION_KINDS.items()}


def _text(value) -> str:
    """A cell as trimmed text ('' for a missing one)."""
    return "" if value is None or (isinstance(value, float) and value != value) or str(value) == "nan" \
        else str(value).strip()


def station_kind(value) -> tuple[str, str | None]:
    """A station's kind as stored (a known Chinese name → its English key, any other text as given,
    trimmed) and the problem with it, if any: kinds are open, but not empty and not endless."""
    kind = _text(value)
    kind = KIND_NAMES.get(kind, kind)
    if not kind:
        return kind, "no kind"
    if len(kind) > STATION_KIND_MAX:
        return kind, f"kind is {len(kind)} characters long, over the limit of {STATION_KIND_MAX}"
    return kind, None


def _frame(path: Path, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Stations as a frame: a CSV with lon/lat (its encoding said or guessed) or any spatial file."""
    if path.suffix.lower() == ".csv":
        try:
            body, chosen = read_text(path, encoding)
        except (EncodingError, OSError) as exc:
            raise ImportRefused(str(exc) if isinstance(exc, EncodingError) else f"{path}: cannot be read") from None
        try:
            df = pd.read_csv(io.StringIO(body))
        except Exception as exc:
            raise ImportRefused(f"{path}: cannot be read as CSV: {exc}") from exc
        missing = [c for c in ("lon", "lat") if c not in df.columns]
        if missing:
            raise ImportRefused(f"{path}: a CSV of stations needs lon and lat columns; missing {', '.join(missing)}")
        x = pd.to_numeric(df["lon"], errors="coerce")
        y = pd.to_numeric(df["lat"], errors="coerce")
        geom = [None if pd.isna(a) or pd.isna(b) else shapely.Point(a, b) for a, b in zip(x, y)]
        out = gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=geom, crs=4326)
        out.attrs["encoding"] = chosen.report()
        return out
    return read_frame(path, encoding=encoding)


def import_stations(engine, path, actor: str = "cli", encoding: str | None = None) -> dict:
    """Import service stations (name, kind, point); a file with any bad feature is refused whole."""
    path = Path(path)
    frame = to_wgs84(_frame(path, encoding), path)
    name_col = pick_field(frame, None, ("name", "名称"), "name", path)
    kind_col = pick_field(frame, None, ("kind", "类型"), "kind", path)
    addr_col = pick_field(frame, None, ("address", "地址"), "address", path, required=False)
    problems, rows = [], []
    for i, (name, kind, g) in enumerate(zip(frame[name_col], frame[kind_col], frame.geometry)):
        name = _text(name)
        kind, kind_problem = station_kind(kind)
        bad = []
        if not name:
            bad.append("no name")
        if kind_problem:
            bad.append(kind_problem)
        if g is None or g.is_empty:
            bad.append("empty geometry")
        elif g.geom_type != "Point":
            bad.append(f"{g.geom_type} is not a point")
        problems += [{"feature": i, "code": name or None, "problem": b} for b in bad]
        if not bad:
            addr = frame[addr_col].iat[i] if addr_col else None
            rows.append((name, kind, None if addr is None or str(addr) == "nan" else str(addr), g.x, g.y))
    if problems:
        raise ImportRefused(f"{path}: import refused, {len(problems)} problem(s); nothing was written", problems)
    if not rows:
        raise ImportRefused(f"{path}: the file has no features")
    from sqlalchemy import text
    with session_scope(engine) as session:
        replaced = 0
        for name, kind, *_ in rows:
            replaced += session.execute(text("DELETE FROM station WHERE name = :n AND kind = :k"),
                                        {"n": name, "k": kind}).rowcount
        conn = session.connection().connection.driver_connection
        bulk.write_points(conn, "station", ("name", "kind", "address", "properties"),
                          ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [{}] * len(rows)),
                          [r[3] for r in rows], [r[4] for r in rows])
        generations.notify_data_changed(session)
        report = {"inserted": len(rows) - replaced, "replaced": replaced, "file": str(path),
                  "encoding": frame.attrs.get("encoding")}
        audit.write(session, actor, "import stations", report)
    return report
