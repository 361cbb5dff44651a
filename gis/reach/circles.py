"""Service circles kept in the record: each station's N-minute circle is computed once per network
version, walking speed and minutes, stored in `service_circle`, and read back after that."""
from __future__ import annotations

import threading

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.locate.engine import LocateEngine
from gis.reach.service_area import circle, reach_m
from gis.warmup import in_background


def station_circles(engine: Engine, locator: LocateEngine, minutes: float, speed_m_s: float,
                    station_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(station ids, circles, whether each was already stored) for the given stations (default: all),
    computing and storing the missing ones; an empty circle (a station off the network) is returned
    but not stored."""
    s = locator.stations
    if s is None or locator.reach is None:
        return np.array([], np.int64), np.array([], dtype=object), np.array([], bool)
    ids = s.ids if station_ids is None else np.asarray(station_ids, np.int64)
    key = {"m": minutes, "v": speed_m_s, "n": locator.network_version}
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT station_id, ST_AsBinary(geom) FROM service_circle
            WHERE minutes = :m AND speed_m_s = :v AND network_version = :n AND station_id = ANY(:ids)"""),
                            {**key, "ids": ids.tolist()}).all()
    stored = {r[0]: shapely.from_wkb(bytes(r[1])) for r in rows}
    pos = {int(i): k for k, i in enumerate(s.ids.tolist())}
    out, new = [], []
    limit = reach_m(minutes, speed_m_s)
    for sid in ids.tolist():
        if sid in stored:
            out.append(stored[sid])
            continue
        k = pos[sid]
        poly = circle(locator.reach.graph, float(s.lon[k]), float(s.lat[k]), limit)
        out.append(poly)
        if not poly.is_empty:
            new.append({**key, "s": sid, "wkb": shapely.to_wkb(poly)})
    if new:
        with engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO service_circle (station_id, minutes, speed_m_s, network_version, geom)
                VALUES (:s, :m, :v, :n, ST_Multi(ST_GeomFromWKB(:wkb, 4326))) ON CONFLICT DO NOTHING"""), new)
    return ids, np.array(out, dtype=object), np.array([sid in stored for sid in ids.tolist()], bool)


def warm_in_background(engine: Engine, locator: LocateEngine, minutes: float, speed_m_s: float) -> threading.Thread:
    """Compute and store every station's circle for the service minutes after start-up, so the first
    coverage map does not wait for them."""
    return in_background("circles", station_circles, engine, locator, minutes, speed_m_s)
