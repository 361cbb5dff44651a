"""`wangge import osm`: the walking network, buildings (addresses from addr:* tags) and points of
interest from an OSM PBF extract (pyrosm). The network replaces the one in the record."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text

from gis.store import bulk

from gis.store import generations
from gis.store.db import session_scope
from gis.importers.common import ImportRefused
from gis.store import audit


def _str(v) -> str | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or str(v) in ("", "nan", "None") else str(v)


def import_osm(engine, path, actor: str = "cli") -> dict:
    """Replace the walking network with the ways of an OSM extract, all or nothing; returns the report."""
    import pyrosm

    path = Path(path)
    if not path.exists():
        raise ImportRefused(f"{path}: no such file")
    try:
        osm = pyrosm.OSM(str(path))
        _, edges = osm.get_network(network_type="walking", nodes=True)  # ways split at intersections
    except Exception as exc:
        raise ImportRefused(f"{path}: cannot be read as an OSM PBF extract: {exc}") from exc
    if edges is None or edges.empty:
        raise ImportRefused(f"{path}: the extract has no walkable ways")
    edges = edges[edges.geometry.geom_type == "LineString"]
    buildings = osm.get_buildings()
    pois = osm.get_pois()

    addr = []
    if buildings is not None and not buildings.empty and "addr:street" in buildings.columns:
        for street, number, city, flats, geom in zip(
                buildings.get("addr:street"), buildings.get("addr:housenumber", [None] * len(buildings)),
                buildings.get("addr:city", [None] * len(buildings)),
                buildings.get("building:flats", [None] * len(buildings)), buildings.geometry):
            street, number = _str(street), _str(number)
            if not street or not number or geom is None or geom.is_empty:
                continue
            try:
                hh = max(0, int(float(_str(flats) or 0)))
            except ValueError:
                hh = 0
            p = geom.representative_point()
            addr.append((" ".join(x for x in (_str(city), street, number) if x), street, number, hh, p.x, p.y))
    poi_rows = []
    if pois is not None and not pois.empty:
        for i, row in enumerate(pois.itertuples(index=False)):
            geom = row.geometry
            if geom is None or geom.is_empty:
                continue
            p = geom if geom.geom_type == "Point" else geom.representative_point()
            kind = next((_str(getattr(row, k, None)) for k in ("amenity", "shop", "leisure", "tourism", "office")
                         if _str(getattr(row, k, None))), None)
            poi_rows.append((int(row.id) if _str(getattr(row, "id", None)) else None, _str(getattr(row, "name", None)),
                             kind, p.x, p.y))

    with session_scope(engine) as session:
        session.execute(text("DELETE FROM network_edge"))
        conn = session.connection().connection.driver_connection
        n = len(edges)
        bulk.write_lines(conn, "network_edge", ("source", "name", "kind", "length_m"),
                         (["osm"] * n, [_str(v) for v in edges.get("name", [None] * n)],
                          [_str(v) for v in edges.get("highway", [None] * n)],
                          edges["length"].astype(float).to_numpy()), edges.geometry.values)
        session.execute(text("DELETE FROM address WHERE source = 'osm'"))
        if addr:
            bulk.write_points(conn, "address", ("address", "components", "households", "source"),
                              ([a[0] for a in addr], [{"road": a[1], "house_number": a[2]} for a in addr],
                               [a[3] for a in addr], ["osm"] * len(addr)),
                              [a[4] for a in addr], [a[5] for a in addr])
        session.execute(text("DELETE FROM poi"))
        if poi_rows:
            bulk.write_points(conn, "poi", ("osm_id", "name", "kind"),
                              ([p[0] for p in poi_rows], [p[1] for p in poi_rows], [p[2] for p in poi_rows]),
                              [p[3] for p in poi_rows], [p[4] for p in poi_rows])
        generations.notify_data_changed(session)
        report = {"network_edges": n, "addresses": len(addr), "buildings": 0 if buildings is None else len(buildings),
                  "pois": len(poi_rows), "file": str(path)}
        audit.write(session, actor, "import osm", report)
    with engine.begin() as c:
        for t in ("network_edge", "address", "poi"):
            c.execute(text(f"ANALYZE {t}"))
    return report
