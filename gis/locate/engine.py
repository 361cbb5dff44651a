"""The locate engine: every level's index for one generation, plus who and what answers there.

Built once per generation and process from the record (PostGIS) and answering in memory; it gives
the same area as `ST_Covers ... ORDER BY code COLLATE "C" LIMIT 1` for every point. Grids in tiers are
indexed tier by tier (gis.locate.tiered): `grid` is the finest covering tier's, `grid_path` every tier's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.locate.index import EMPTY, LevelIndex
from gis.locate.tiered import TieredIndex
from gis.planar import LocalPlane
from gis.reach.network import StationReach, load_graph
from gis.store.queries import GENERATION_AREAS, level_areas
from gis.store.tiers import tiers
from gis.vocab import LEVELS, STAFF_ROLES


@dataclass
class LevelData:
    """Areas of one level in code order (the C collation: plain code-point order)."""

    codes: np.ndarray
    names: np.ndarray
    parents: np.ndarray
    households: np.ndarray
    geoms: np.ndarray
    index: LevelIndex
    area_ids: np.ndarray | None = None  # the immutable area rows, in the same order
    weights: object = None  # spatial weights over these areas (gis.command.hotspots), built on first use
    by_code: dict | None = None  # code → area id, built on first use
    tiers: np.ndarray | None = None  # grids: each area's tier (1 = coarsest); None for other levels

    @classmethod
    def build(cls, codes, names, parents, households, geoms, area_ids=None, tiers=None,
              previous: "LevelData | None" = None) -> "LevelData":
        """A level from unordered areas: sorted into code order, its index built. Grids with `tiers`
        get one index per tier (a TieredIndex; tiers unchanged since `previous` keep theirs)."""
        codes = np.asarray(codes, dtype=object)
        order = np.argsort(np.array([c.encode("utf-8") for c in codes], dtype=object), kind="stable")
        geoms = np.asarray(geoms, dtype=object)[order]
        ids = None if area_ids is None else np.asarray(area_ids)[order]
        if tiers is None:
            index, tiers_sorted = LevelIndex(geoms), None
        else:
            tiers_sorted = np.asarray(tiers, dtype=np.int64)[order]
            old = previous.index if previous is not None and isinstance(previous.index, TieredIndex) else None
            index = TieredIndex(geoms, tiers_sorted, ids, codes[order], previous=old)
        return cls(codes[order], np.asarray(names, dtype=object)[order],
                   np.asarray(parents, dtype=object)[order], np.asarray(households)[order],
                   geoms, index, ids, tiers=tiers_sorted)

    @property
    def multi_tier(self) -> bool:
        """Whether this level's areas come in more than one tier (grids of a tiered city)."""
        return isinstance(self.index, TieredIndex) and len(self.index.indexes) > 1

    def path(self, x, y) -> np.ndarray:
        """(tiers × points) ranks of every tier's covering area, coarsest first; one row for a level
        without tiers."""
        if isinstance(self.index, TieredIndex):
            return self.index.path(x, y)
        return self.index.query(x, y)[None, :].astype(np.int64)

    def path_one(self, x: float, y: float) -> list[int]:
        """The ranks of every tier's covering area at one point, coarsest first (none: empty)."""
        if isinstance(self.index, TieredIndex):
            return self.index.path_one(x, y)
        i = self.index.query_one(x, y)
        return [] if i == EMPTY else [i]


@dataclass
class Stations:
    """Service stations with a KD-tree on a local metric plane (straight-line nearest)."""

    ids: np.ndarray
    names: np.ndarray
    kinds: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    plane: LocalPlane | None = None
    tree: cKDTree | None = None

    def __post_init__(self):
        if len(self.ids):
            self.plane = LocalPlane.around(self.lat)
            self.tree = cKDTree(self.plane.xy(self.lon, self.lat))

    def nearest(self, lon: float, lat: float, k: int) -> list[dict]:
        """The k stations nearest a point in a straight line, each with its distance in metres."""
        if self.tree is None or k <= 0:
            return []
        k = min(k, len(self.ids))
        dist, idx = self.tree.query(self.plane.xy([lon], [lat]), k=k)
        dist, idx = np.atleast_1d(dist[0]), np.atleast_1d(idx[0])
        return [{"id": int(self.ids[i]), "name": self.names[i], "kind": self.kinds[i],
                 "lon": float(self.lon[i]), "lat": float(self.lat[i]),
                 "distance_m": round(float(d), 1), "method": "straight_line"} for d, i in zip(dist, idx)]


@dataclass
class LocateEngine:
    """Every level's index of one generation with its staff, stations and walking reach: locate in memory."""
    generation: int | None
    levels: dict[str, LevelData]
    staff: dict[int, list[dict]] = field(default_factory=dict)  # by area id (an area's identity)
    stations: Stations | None = None
    reach: StationReach | None = None
    speed_m_s: float = 1.0
    network_version: int = 0  # the newest network edge id: it changes whenever the network is replaced
    tier_names: dict[int, str] = field(default_factory=dict)  # the city's grid tiers (grid_tier)

    def nearest_stations(self, lon: float, lat: float, k: int) -> list[dict]:
        """Nearest stations by walking on the network (snap distances included); unreachable ones are
        left out. Without a network: straight line, and each entry says so."""
        if self.stations is None or not len(self.stations.ids):
            return []
        if self.reach is None:
            return self.stations.nearest(lon, lat, k)
        idx, dist = self.reach.nearest([lon], [lat], k)  # beyond the reach limit: -1, left out
        s = self.stations
        return [{"id": int(s.ids[i]), "name": s.names[i], "kind": s.kinds[i], "lon": float(s.lon[i]),
                 "lat": float(s.lat[i]), "walk_m": round(float(d), 1),
                 "walk_min": round(float(d) / self.speed_m_s / 60.0, 1), "method": "walking"}
                for i, d in zip(idx[0], dist[0]) if i >= 0]

    def stations_answer(self, lon: float, lat: float, k: int) -> dict:
        """The nearest stations and, when none can be reached, why (`reason`): an empty list alone
        would not say whether the point is off the network or the stations are too far."""
        stations = self.nearest_stations(lon, lat, k)
        out = {"stations": stations}
        if not stations:
            if self.stations is None or not len(self.stations.ids):
                out["reason"] = "there are no stations yet"
            elif self.reach is not None:
                out["reason"] = self.reach.why_none(lon, lat)
        return out

    def locate(self, lon, lat) -> dict[str, np.ndarray]:
        """Index (into each level's code-ordered arrays) of the answering area, -1 where none."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        return {lvl: d.index.query(lon, lat) for lvl, d in self.levels.items()}

    def locate_codes(self, lon, lat) -> dict[str, list]:
        """Each level's answering code per point (None where no area covers it)."""
        out = {}
        for lvl, idx in self.locate(lon, lat).items():
            codes = self.levels[lvl].codes
            out[lvl] = [codes[i] if i != EMPTY else None for i in idx.tolist()]
        return out

    def grid_paths(self, lon, lat) -> list[list[str]]:
        """Per point, the codes of the covering grid of every tier, coarsest first ([] where none)."""
        n = len(np.atleast_1d(lon))
        d = self.levels.get("grid")
        if d is None:
            return [[] for _ in range(n)]
        p = d.path(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return [[d.codes[i] for i in col if i != EMPTY] for col in p.T.tolist()]

    def area(self, level: str, i: int) -> dict | None:
        """{code, name} of the area at index `i` of a level, None for no area; a grid of a map with
        more than one tier also says its `tier` and the tier's name."""
        if i == EMPTY or level not in self.levels:
            return None
        d = self.levels[level]
        out = {"code": d.codes[i], "name": d.names[i]}
        if d.tiers is not None and d.multi_tier:
            t = int(d.tiers[i])
            out.update(tier=t, tier_name=self.tier_names.get(t))
        return out

    def areas_at(self, lon: float, lat: float) -> dict:
        """Every level's answering area ({code, name}) at one WGS84 point, None where there is none,
        and `grid_path`: the covering grid of every tier, coarsest first (`grid` is its last)."""
        out = {lvl: self.area(lvl, self.levels[lvl].index.query_one(lon, lat)) if lvl in self.levels else None
               for lvl in LEVELS}
        d = self.levels.get("grid")
        out["grid_path"] = [self.area("grid", i) for i in d.path_one(lon, lat)] if d is not None else []
        return out

    def answer_one(self, lon: float, lat: float, k_stations: int = 3) -> dict:
        """The full locate answer for one WGS84 point (phones still unmasked: the API masks them)."""
        areas = self.areas_at(lon, lat)
        found = any(areas[lvl] is not None for lvl in LEVELS)
        return {
            "found": found,
            "point": {"lon": lon, "lat": lat},
            "generation": self.generation,
            **areas,
            "staff": self.responsible(areas) if found else [],
            "stations": self.nearest_stations(lon, lat, k_stations),
        }

    def area_id(self, level: str, code: str | None) -> int | None:
        """The id (identity) of the area bearing `code` at `level` in this generation, else None: what
        records keep, whatever the area is called later."""
        d = self.levels.get(level)
        if code is None or d is None or d.area_ids is None:
            return None
        if d.by_code is None:
            d.by_code = dict(zip(d.codes.tolist(), d.area_ids.tolist()))
        found = d.by_code.get(code)
        return None if found is None else int(found)

    def staff_of(self, level: str, code: str) -> list[dict]:
        """The people assigned to the area that bears `code` at `level` in this generation (assignments
        point at area ids, so a re-coded area keeps its people)."""
        area_id = self.area_id(level, code)
        people = self.staff.get(area_id, []) if area_id is not None else []
        return [p if p["area_code"] == code else {**p, "area_code": code} for p in people]

    def responsible(self, areas: dict) -> list[dict]:
        """Staff for the unit, the grid of every tier and the community; where nobody is named, the
        nearest level up that has someone answers (属地兜底), so a located point always names someone."""
        people = []
        grids = areas.get("grid_path") or ([areas["grid"]] if areas.get("grid") else [])
        for lvl, a in [("unit", areas.get("unit")), *(("grid", g) for g in reversed(grids)),
                       ("community", areas.get("community"))]:
            if a:
                people += self.staff_of(lvl, a["code"])
        if not people:
            for lvl in ("street", "district"):
                a = areas.get(lvl)
                if a and self.staff_of(lvl, a["code"]):
                    people = self.staff_of(lvl, a["code"])
                    break
        if not people:
            for lvl in ("grid", "community", "street", "district"):
                a = areas.get(lvl)
                if a:
                    people = [{"name": f"{a['name']}（属地兜底）", "role": "area_government", "level": lvl,
                               "area_code": a["code"], "phone": None}]
                    break
        rank = {r: i for i, r in enumerate(STAFF_ROLES)}  # a city's own roles after the builtins
        return sorted(people, key=lambda p: rank.get(p["role"], len(rank)))


def load_areas(engine: Engine, generation: int, previous: dict[str, "LevelData"] | None = None) -> dict[str, LevelData]:
    """Read one generation's areas from PostGIS and build each level's index. A level whose areas
    (immutable rows) are those of `previous`, with codes in the same order, keeps its index and geometry
    and only takes the new parents and codes: a redraw of grids rebuilds the grid level, not the 78,000
    units below it (unless re-coding them changed their order, which the tie rule depends on)."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"""
            SELECT ga.level, ga.area_id, ga.code, a.name, ga.parent_code, a.households, ga.tier
            FROM {GENERATION_AREAS} WHERE ga.generation_id = :g
        """), {"g": generation}).all()
        by_level: dict[str, list] = {lvl: [] for lvl in LEVELS}
        for r in rows:
            by_level[r.level].append(r)
        levels = {}
        for lvl, rs in by_level.items():
            if not rs:
                continue
            old = (previous or {}).get(lvl)
            tiered = lvl == "grid"
            if old is not None and old.area_ids is not None and len(old.area_ids) == len(rs) \
                    and (old.tiers is not None) == tiered:
                old_tiers = old.tiers.tolist() if tiered else [None] * len(rs)
                pos = {(int(a), t): i for i, (a, t) in enumerate(zip(old.area_ids.tolist(), old_tiers))}
                idx = [pos.get((r.area_id, r.tier)) for r in rs]
                rs_sorted = [rs[i] for i in np.argsort(idx)] if None not in idx else []
                codes = [r.code.encode("utf-8") for r in rs_sorted]
                # the same areas, and their codes (maybe re-coded) still in the same C order: the index's
                # positions and its first-code tie rule stay right, so it is kept with the new codes
                if rs_sorted and all(a < b for a, b in zip(codes, codes[1:])):
                    new_codes = old.codes if codes == [c.encode("utf-8") for c in old.codes.tolist()] \
                        else np.array([r.code for r in rs_sorted], dtype=object)
                    levels[lvl] = LevelData(new_codes, np.array([r.name for r in rs_sorted], dtype=object),
                                            np.array([r.parent_code for r in rs_sorted], dtype=object),
                                            np.array([r.households for r in rs_sorted]), old.geoms, old.index,
                                            old.area_ids, old.weights, tiers=old.tiers)
                    continue
            wkb = {r.area_id: r.wkb for r in level_areas(conn, generation, lvl)}
            geoms = shapely.from_wkb([bytes(wkb[r.area_id]) for r in rs])
            levels[lvl] = LevelData.build([r.code for r in rs], [r.name for r in rs], [r.parent_code for r in rs],
                                          np.array([r.households for r in rs]), geoms, [r.area_id for r in rs],
                                          tiers=[r.tier or 1 for r in rs] if tiered else None, previous=old)
    return levels


def load_staff(engine: Engine) -> dict[int, list[dict]]:
    """People by area id: who answers for each area, in which role (`area_code` is the code the area
    bore when they were assigned; answers show the area's code in the generation asked about)."""
    sql = text("""
        SELECT p.name, p.phone, s.role, s.level, s.area_id, s.area_code
        FROM assignment s JOIN person p ON p.id = s.person_id ORDER BY s.id
    """)
    out: dict[int, list[dict]] = {}
    with engine.connect() as conn:
        for r in conn.execute(sql):
            out.setdefault(int(r.area_id), []).append(
                {"name": r.name, "role": r.role, "level": r.level, "area_code": r.area_code, "phone": r.phone})
    return out


def load_stations(engine: Engine) -> Stations:
    """The service stations in id order, with their straight-line KD-tree."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, name, kind, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM station ORDER BY id")).all()
    return Stations(np.array([r.id for r in rows], dtype=np.int64), np.array([r.name for r in rows], dtype=object),
                    np.array([r.kind for r in rows], dtype=object), np.array([r.lon for r in rows], dtype=float),
                    np.array([r.lat for r in rows], dtype=float))


def build_engine(engine: Engine, generation: int | None, speed_m_s: float = 1.0,
                 reach_limit_m: float = 3000.0, previous: LocateEngine | None = None) -> LocateEngine:
    """The engine for `generation`. With `previous` (same stations and network: only the map changed),
    unchanged levels and the walking graph are taken over instead of rebuilt."""
    levels = load_areas(engine, generation, previous.levels if previous else None) if generation is not None else {}
    with engine.connect() as conn:
        version = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM network_edge")).scalar())
    if previous is not None and previous.network_version == version and previous.speed_m_s == speed_m_s:
        stations, reach = previous.stations, previous.reach
    else:
        stations = load_stations(engine)
        graph = load_graph(engine)
        reach = StationReach.build(graph, stations.lon, stations.lat, limit_m=reach_limit_m) \
            if graph is not None and len(stations.ids) else None
    with engine.connect() as conn:
        names = {t.tier: t.name for t in tiers(conn)}
    return LocateEngine(generation, levels, load_staff(engine), stations, reach, speed_m_s, version, names)
