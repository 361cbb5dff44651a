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
