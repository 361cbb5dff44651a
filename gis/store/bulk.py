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


def write_areas(conn, generation: int, levels, codes, names, parents, households, geoms,
                tiers=None, parent_levels=None) -> list[int]:
    """Make the areas members of `generation` with their codes and parents, and return their area ids in
    input order. An area whose level, ground (normalized boundary), name and households equal those of an
    existing row that is not yet in `generation` reuses that row, so its id (its identity: what staff,
    requests and history point at) is the same in every generation where its ground is the same; only the
    rest are inserted. `tiers` (grids: 1 by default) and `parent_levels` (default: the level above; a
    grid of tier > 1 hangs under a grid) follow the schema's rules."""
    n = len(codes)
    parents = [p if isinstance(p, str) and p else None for p in parents]  # pandas gives NaN for None
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    single = shapely.get_type_id(geoms) == 3  # Polygon → MultiPolygon, the column's type
    if single.any():
        geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    tiers = [None if levels[i] != "grid" else int(tiers[i]) if tiers is not None and tiers[i] else 1
             for i in range(n)]
    above = {lvl: (LEVELS[LEVEL_RANK[lvl] - 1] if LEVEL_RANK[lvl] else None) for lvl in LEVELS}
    plevels = [None if not parents[i] else
               parent_levels[i] if parent_levels is not None and parent_levels[i] else
               "grid" if tiers[i] and tiers[i] > 1 else above[levels[i]] for i in range(n)]
    hexes = _ewkb_hex(geoms)
    conn.execute("""CREATE TEMP TABLE IF NOT EXISTS _new_area (
        i integer, level text, code text, name text, households integer, geom geometry, ground char(32),
        area_id bigint) ON COMMIT DROP""")
    conn.execute("TRUNCATE _new_area")
    copy_rows(conn, "_new_area", ("i", "level", "code", "name", "households", "geom"),
              ((i, levels[i], codes[i], names[i], int(households[i]), hexes[i]) for i in range(n)))
    conn.execute("UPDATE _new_area SET ground = md5(ST_AsBinary(ST_Normalize(geom)))")
    # reuse: the oldest matching row not already in this generation, each row for one new area only
    conn.execute("""
        WITH m AS (
            SELECT DISTINCT ON (a.id) n.i, a.id FROM _new_area n
            JOIN area a ON a.level = n.level AND a.ground = n.ground AND a.name = n.name
                       AND a.households = n.households
            WHERE NOT EXISTS (SELECT 1 FROM generation_area ga WHERE ga.generation_id = %s AND ga.area_id = a.id)
            ORDER BY a.id, n.i
        ), one AS (SELECT DISTINCT ON (i) i, id FROM m ORDER BY i, id)
        UPDATE _new_area n SET area_id = one.id FROM one WHERE one.i = n.i""", (generation,))
    conn.execute("UPDATE _new_area SET area_id = nextval(pg_get_serial_sequence('area', 'id')) WHERE area_id IS NULL")
    conn.execute("""
        INSERT INTO area (id, level, code, name, households, properties, geom, ground)
        SELECT area_id, level, code, name, households, '{}', geom, ground FROM _new_area n
        WHERE NOT EXISTS (SELECT 1 FROM area a WHERE a.id = n.area_id)""")
    ids = [r[0] for r in conn.execute("SELECT area_id FROM _new_area ORDER BY i").fetchall()]
    copy_rows(conn, "generation_area",
              ("generation_id", "area_id", "level", "code", "parent_level", "parent_code", "tier"),
              ((generation, ids[i], levels[i], codes[i], plevels[i], parents[i], tiers[i]) for i in range(n)))
    conn.execute("TRUNCATE _new_area")
    conn.execute("ANALYZE area")  # fresh statistics, or the planner scans instead of using the index
    conn.execute("ANALYZE generation_area")
    return ids


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
