"""Bulk writes with COPY: whole generations of areas, addresses, stations, edges, requests.

Used by the demo loader (78,000 units, a million requests) where row-by-row INSERTs would take
minutes. Every function writes inside the caller's transaction (a psycopg connection).
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

import numpy as np
import shapely

from gis.vocab import LEVEL_RANK, LEVELS


def _ewkb_hex(geoms) -> list[str]:
    return shapely.to_wkb(shapely.set_srid(np.asarray(geoms, dtype=object), 4326), hex=True,
                          include_srid=True).tolist()


def copy_rows(conn, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """COPY rows into table(columns) through psycopg 3's copy protocol."""
    cols = ", ".join(columns)
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)


def write_areas(conn, generation: int, levels, codes, names, parents, households, geoms) -> None:
    """Insert new area rows and make them members of `generation` with their parents."""
    n = len(codes)
    parents = [p if isinstance(p, str) and p else None for p in parents]  # pandas gives NaN for None
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    single = shapely.get_type_id(geoms) == 3  # Polygon → MultiPolygon, the column's type
    if single.any():
        geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    with conn.cursor() as cur:
        start = cur.execute("SELECT nextval(pg_get_serial_sequence('area', 'id')) FROM generate_series(1, %s)",
                            (n,)).fetchall()
    ids = [r[0] for r in start]
    hexes = _ewkb_hex(geoms)
    copy_rows(conn, "area", ("id", "level", "code", "name", "households", "properties", "geom"),
              ((ids[i], levels[i], codes[i], names[i], int(households[i]), "{}", hexes[i]) for i in range(n)))
    parent_level = {lvl: (LEVELS[LEVEL_RANK[lvl] - 1] if LEVEL_RANK[lvl] else None) for lvl in LEVELS}
    copy_rows(conn, "generation_area", ("generation_id", "area_id", "level", "code", "parent_level", "parent_code"),
              ((generation, ids[i], levels[i], codes[i],
                parent_level[levels[i]] if parents[i] else None, parents[i] or None) for i in range(n)))
    conn.execute("ANALYZE area")  # fresh statistics, or the planner scans instead of using the index
    conn.execute("ANALYZE generation_area")


def write_points(conn, table: str, columns: Sequence[str], values: Sequence[Sequence], lon, lat) -> None:
    """COPY point rows: `values` are the non-geometry columns, one sequence per column."""
    hexes = _ewkb_hex(shapely.points(np.asarray(lon, float), np.asarray(lat, float)))
    cols = list(columns) + ["geom"]
    n = len(hexes)
    copy_rows(conn, table, cols, (tuple(_plain(v[i]) for v in values) + (hexes[i],) for i in range(n)))


def write_lines(conn, table: str, columns: Sequence[str], values: Sequence[Sequence], geoms) -> None:
    """COPY rows with a LineString geometry (EPSG:4326) into `table`."""
    hexes = _ewkb_hex(geoms)
    cols = list(columns) + ["geom"]
    copy_rows(conn, table, cols, (tuple(_plain(v[i]) for v in values) + (hexes[i],) for i in range(len(hexes))))


def _plain(v):
    """numpy scalars and dicts to what COPY accepts."""
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, np.generic):
        return v.item()
    return v
