"""The database's answer to locate: ST_Covers with the contract's tie rule, for checks and benchmarks."""
from __future__ import annotations

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.store.queries import first_covering

# For each point, the covering area of `level` whose code sorts first (C collation = code-point order).
_SQL = text(f"""
    SELECT t.i, {first_covering("ST_SetSRID(ST_MakePoint(t.x, t.y), 4326)", ":lvl")} AS code
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)
    ORDER BY t.i
""")


def locate_codes_sql(engine: Engine, generation: int, level: str, x, y) -> list[str | None]:
    """Codes per point, answered by PostGIS alone."""
    xs = np.asarray(x, dtype=np.float64).tolist()
    ys = np.asarray(y, dtype=np.float64).tolist()
    with engine.connect() as conn:
        rows = conn.execute(_SQL, {"g": generation, "lvl": level, "xs": xs, "ys": ys}).all()
    return [r.code for r in rows]


# For each point, every tier's covering grid: the first code in C collation within each tier, coarsest first.
_PATH_SQL = text("""
    SELECT t.i, coalesce((
        SELECT array_agg(p.code ORDER BY p.tier) FROM (
            SELECT DISTINCT ON (ga.tier) ga.tier, ga.code
            FROM generation_area ga JOIN area a ON a.id = ga.area_id
            WHERE ga.generation_id = :g AND ga.level = 'grid'
              AND ST_Covers(a.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326))
            ORDER BY ga.tier, ga.code COLLATE "C") p), '{}') AS path
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)
    ORDER BY t.i
""")


def grid_paths_sql(engine: Engine, generation: int, x, y) -> list[list[str]]:
    """Per point, the covering grid of every tier (coarsest first), answered by PostGIS alone."""
    xs = np.asarray(x, dtype=np.float64).tolist()
    ys = np.asarray(y, dtype=np.float64).tolist()
    with engine.connect() as conn:
        rows = conn.execute(_PATH_SQL, {"g": generation, "xs": xs, "ys": ys}).all()
    return [list(r.path) for r in rows]
