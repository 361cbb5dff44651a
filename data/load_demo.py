"""Load the generated demo city into the record: one new generation, and the city's people, places
and a year of requests (each located to its grid and unit with the engine, generation kept)."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.engine import Engine

from data.demo_city import build_city
from data import estates
from data.visits import write_visits
from gis import keys
from gis.store import audit, bulk
from gis.store import generations
from gis.store.db import session_scope
from gis.locate.engine import LevelData
from gis.vocab import LEVELS

_GEOD = Geod(ellps="WGS84")


def _noop(step: str, fraction: float) -> None:
    pass


def load_demo(engine: Engine, scale: str = "small", seed: int = 0, progress=None, tiers: int = 1) -> dict:
    """Build the demo city (grids in `tiers` tiers) and write it in one transaction; returns counts,
    timings and two API keys."""
    progress = progress or _noop
    t0 = time.perf_counter()
    city = build_city(scale, seed, progress=lambda step, f: progress(f"generate: {step}", 0.5 * f), tiers=tiers)
    t_gen = time.perf_counter() - t0
    with session_scope(engine) as session:
        conn = session.connection().connection.driver_connection
        progress("write areas", 0.55)
        _replace_tiers(session, city.tiers)
        gen, ids = _replace_city(session, conn, city.areas, f"demo {scale} seed {seed}"
                                 + (f" tiers {tiers}" if tiers > 1 else ""))
        progress("write addresses", 0.62)
        _write_addresses(conn, city.addresses)
        progress("write stations and network", 0.68)
        _write_stations_and_network(conn, city.stations, city.streets)
        progress("write staff", 0.72)
        _write_staff(session, conn, city.staff, ids)
        estates.write_estates(session, estates.build_estates(city.areas, seed))  # 小区: data/estates.py
        progress("locate requests", 0.75)
        grid_codes, unit_codes = _locate(city.areas, city.requests["lon"].to_numpy(), city.requests["lat"].to_numpy())
        progress("write requests", 0.8)
        _write_requests(conn, city.requests, gen, grid_codes, unit_codes, ids)
        field = write_visits(session, conn, city.areas, ids, seed)  # a week of field work (issue 14)
        progress("activate", 0.95)
        generations.activate(session, gen)
        api_keys = {role: keys.create(session, role) for role in ("admin", "consumer")}
        audit.write(session, "cli", "demo", {"scale": scale, "seed": int(seed), "generation": gen,
                                             "tiers": int(tiers)})
    for table in ("address", "station", "network_edge", "request", "person", "assignment"):
        with engine.begin() as c:
            c.execute(text(f"ANALYZE {table}"))
    progress("done", 1.0)
    return {"generation": gen, "scale": scale, "seed": seed, "tiers": [t[0] for t in city.tiers],
            "counts": _counts(city), "keys": api_keys, "field": field,
            "seconds": {"generate": round(t_gen, 1), "total": round(time.perf_counter() - t0, 1)}}


def _replace_tiers(session, scheme) -> None:
    """The demo city's grid tier scheme. The demo replaces the whole city, so the older generations'
    grids (history, never active again unless rolled back to) do not hold the scheme back as they do
    for `wangge tiers set`."""
    session.execute(text("DELETE FROM grid_tier"))
    for i, (name, digits, nests) in enumerate(scheme, start=1):
        session.execute(text("INSERT INTO grid_tier (tier, name, digits, nests) VALUES (:t, :n, :d, :s)"),
                        {"t": i, "n": name, "d": int(digits), "s": bool(nests)})


def _replace_city(session, conn, areas, source: str) -> tuple[int, dict[tuple[str, str], int]]:
    """The demo replaces the whole map and the data that belongs to the old demo city; returns the new
    (not yet active) generation with the city's areas, and their area ids by (level, code)."""
    # TRUNCATE (inside the load's transaction, so a failed load leaves the old city): the request log is
    # append-only and refuses DELETE, and row-by-row DELETEs of staff re-checked every assignment
    session.execute(text("TRUNCATE visit, flag, pledge, request_event, request_whistle, request, assignment, person, crosswalk, "
                         "service_circle, station, address, network_edge"))
    gen = generations.create(session, source=source, replace_levels=LEVELS)
    levels, codes = areas["level"].tolist(), areas["code"].tolist()
    area_ids = bulk.write_areas(conn, gen, levels, codes, areas["name"].tolist(),
                                areas["parent_code"].tolist(), areas["households"].to_numpy(), areas.geometry.values,
                                tiers=areas["tier"].tolist() if "tier" in areas else None)
    return gen, dict(zip(zip(levels, codes), area_ids))


def _write_addresses(conn, addr) -> None:
    """The address registry, with each address's parsed components."""
    comps = [{"road": r, "house_number": h, "estate": e, "building": b, "unit": u} for r, h, e, b, u in
             zip(addr["road"], addr["house_number"], addr["estate"], addr["building"], addr["unit_no"])]
    bulk.write_points(conn, "address", ("address", "components", "households", "building_code", "source"),
                      (addr["address"].tolist(), comps, addr["households"].to_numpy(),
                       addr["building_code"].tolist(), ["demo"] * len(addr)),
                      addr.geometry.x.to_numpy(), addr.geometry.y.to_numpy())


def _write_stations_and_network(conn, stations, streets) -> None:
    """Service stations, and the streets as the walking network (lengths in metres on the ellipsoid)."""
    bulk.write_points(conn, "station", ("name", "kind", "address", "properties"),
                      (stations["name"].tolist(), stations["kind"].tolist(), stations["address"].tolist(),
                       [{}] * len(stations)),
                      stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
    geoms = streets.geometry.values
    length_m = np.array([_GEOD.geometry_length(g) for g in geoms])
    bulk.write_lines(conn, "network_edge", ("source", "name", "kind", "length_m"),
                     (["demo"] * len(streets), streets["name"].tolist(), streets["kind"].tolist(), length_m),
                     geoms)


def _utc_strings(req, col: str) -> np.ndarray:
    """UTC ISO strings, vectorised (a Python loop over a million timestamps takes seconds)."""
    v = pd.to_datetime(req[col], utc=True).to_numpy(dtype="datetime64[s]")
    out = np.char.add(np.datetime_as_string(v, unit="s"), "Z").astype(object)
    out[np.isnat(v)] = None
    return out


def _write_requests(conn, req, gen: int, grid_codes: list, unit_codes: list, ids: dict) -> None:
    """A year of requests, located with generation `gen` (China Standard Time when naive), keeping the
    areas (ids) and codes they were located in."""
    created = req["created_at"].dt.tz_localize("Asia/Shanghai") if req["created_at"].dt.tz is None \
        else req["created_at"]
    bulk.write_points(conn, "request",
                      ("created_at", "category", "matter_class", "importance", "urgency", "text", "status",
                       "generation_id", "grid_code", "unit_code", "grid_area_id", "unit_area_id", "source", "colour", "due_at", "finished_at",
                       "closed_at", "escalated_at", "satisfaction", "result", "updated_at"),
                      (created.astype(str).tolist(),
                       req["category"].tolist(), req["matter_class"].tolist(),
                       req["importance"].to_numpy().astype(int), req["urgency"].to_numpy().astype(int),
                       req["text"].tolist(), req["status"].tolist(), [gen] * len(req), grid_codes, unit_codes,
                       [ids.get(("grid", c)) for c in grid_codes], [ids.get(("unit", c)) for c in unit_codes],
                       ["demo"] * len(req), req["colour"].tolist(), _utc_strings(req, "due_at"),
                       _utc_strings(req, "finished_at"), _utc_strings(req, "closed_at"),
                       _utc_strings(req, "escalated_at"),
                       [None if pd.isna(v) else int(v) for v in req["satisfaction"]],
                       [None if pd.isna(v) else v for v in req["result"]], _utc_strings(req, "due_at")),
                      req["lon"].to_numpy(), req["lat"].to_numpy())


def _counts(city) -> dict:
    """What was loaded: areas per level, households, and the rows of every other table."""
    areas = city.areas
    counts = {f"{lvl}s" if lvl != "community" else "communities": int((areas["level"] == lvl).sum())
              for lvl in LEVELS}
    counts.update(households=int(areas.loc[areas["level"] == "district", "households"].sum()),
                  addresses=len(city.addresses), stations=len(city.stations), network_edges=len(city.streets),
                  staff=len(city.staff), requests=len(city.requests))
    return counts


def _write_staff(session, conn, staff, ids: dict) -> None:
    """One person row per person, one assignment each, to the area by id (person ids taken from the
    sequence so COPY can link them)."""
    n = len(staff)
    pids = [r[0] for r in session.execute(text(
        "SELECT nextval(pg_get_serial_sequence('person', 'id')) FROM generate_series(1, :n)"), {"n": n})]
    bulk.copy_rows(conn, "person", ("id", "name", "phone"),
                   zip(pids, staff["name"].tolist(), staff["phone"].tolist()))
    levels, codes = staff["level"].tolist(), staff["area_code"].tolist()
    bulk.copy_rows(conn, "assignment", ("person_id", "role", "level", "area_id", "area_code"),
                   zip(pids, staff["role"].tolist(), levels, [ids[k] for k in zip(levels, codes)], codes))


def _locate(areas, lon, lat) -> tuple[list, list]:
    """Grid (the finest tier covering) and unit codes for many points with the same engine the API uses."""
    out = []
    for lvl in ("grid", "unit"):
        sub = areas[areas["level"] == lvl]
        data = LevelData.build(sub["code"].tolist(), sub["name"].tolist(), sub["parent_code"].tolist(),
                               sub["households"].to_numpy(), sub.geometry.values,
                               tiers=sub["tier"].to_numpy(dtype=int) if lvl == "grid" else None)
        idx = data.index.query(lon, lat)
        codes = np.where(idx >= 0, data.codes[np.maximum(idx, 0)], None)
        out.append(codes.tolist())
    return out[0], out[1]
