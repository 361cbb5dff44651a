"""Write small synthetic generations straight into the test database (bypassing importers)."""
from __future__ import annotations

from gis.store import bulk

from gis.store import generations
from gis.store.db import session_scope


def write_generation(engine, features: list[tuple[str, str, str, str | None, object]], activate=True) -> int:
    """features: (level, code, name, parent_code, shapely polygon). Returns the new generation id."""
    with session_scope(engine) as session:
        gen = generations.create(session, source="test", replace_levels=("district", "street", "community",
                                                                          "grid", "unit"))
        conn = session.connection().connection.driver_connection
        bulk.write_areas(conn, gen, [f[0] for f in features], [f[1] for f in features],
                         [f[2] for f in features], [f[3] for f in features], [0] * len(features),
                         [f[4] for f in features])
        if activate:
            generations.activate(session, gen)
    return gen
