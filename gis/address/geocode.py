"""The geocoder: free text → registry addresses, with a calibrated score, a precision level and an honest
`confident` flag. Exact components first (road + house number, estate + building + unit); then names as a
pinyin keyboard spells them (same toneless pinyin, or the same once the city's dialect folds apply — a
weaker match that is confident only when an exactly named part agrees); then fuzzy names (rapidfuzz) for
the road and estate vocabularies. A number the registry lacks falls back to its road — never to another
building — and whatever place can be made out is named at its level: nothing only for text with no place.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.address.pinyin import Folds, PinyinIndex, parse_folds, primary
from gis.address.text import ESTATE_SUFFIXES, estate_core, normalize, numbers, parse_registry
from gis.planar import LocalPlane

LEVEL_SCORE = {"unit": 1.0, "building": 0.95, "road": 0.6, "community": 0.45, "street": 0.35, "district": 0.25}
FUZZY_MIN = 75
PINYIN_Q = {True: 0.85, False: 0.75}  # a name matched through toneless pinyin, or only once folded
_ROAD_RE = re.compile(r"([^\d]{2,10}?(?:大道|路|街|巷))")
_ESTATE_RE = re.compile(r"([^\d]{2,10}?(?:" + "|".join(ESTATE_SUFFIXES) + "))")


class NoAddressNear(LookupError):
    """No registry address lies within the reverse-geocoding limit of a point (a 404, not a guess)."""

    def __init__(self, distance_m: float, max_m: float):
        """The distance to the nearest address and the limit it is beyond, both in metres."""
        self.distance_m, self.max_m = distance_m, max_m
        super().__init__(f"no address within {max_m:g} m of this point (the nearest is {distance_m:,.0f} m away)")


@dataclass
class Registry:
    """The address registry as parallel arrays: text, location, parsed components and answering grid."""

    address: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    road: np.ndarray
    house: np.ndarray
    estate: np.ndarray
    building: np.ndarray
    unit: np.ndarray
    grid: np.ndarray


class Geocoder:
    """Free text → registry places, over in-memory lookups by road + number, estate and area names."""

    def __init__(self, reg: Registry, areas: dict[str, tuple[str, str, float, float]] | None = None,
                 folds: Folds | None = None):
        """areas: normalised name → (level, code, name, lon, lat) for districts, streets and communities;
        folds: the city's dialect folds (WANGGE_PINYIN_FOLDS) for the pinyin keys of every name."""
        self.r = reg
        self.areas = areas or {}
        self.by_road_house = defaultdict(list)
        self.by_road = defaultdict(list)
        self.by_estate = defaultdict(list)
        self.estate_bu = defaultdict(set)  # estate → its (building, unit) and (building, None) pairs
        self.road_estates = defaultdict(set)  # road → the estates on it (which homophone road is meant)
        for i, (rd, hn, es) in enumerate(zip(reg.road, reg.house, reg.estate)):
            if rd:
                self.by_road[rd].append(i)
                if es:
                    self.road_estates[rd].add(estate_core(es))
                if hn:
                    self.by_road_house[(rd, hn)].append(i)
            if es:
                self.by_estate[estate_core(es)].append(i)
                self.estate_bu[estate_core(es)].update(((reg.building[i], reg.unit[i]), (reg.building[i], None)))
        self.roads = sorted(self.by_road, key=len, reverse=True)
        self.estates = sorted(self.by_estate, key=len, reverse=True)
        self.area_names = sorted(self.areas, key=len, reverse=True)
        self._vocab = {k: (set(v), sorted({len(n) for n in v}, reverse=True))
                       for k, v in (("road", self.roads), ("estate", [e for e in self.estates if len(e) >= 2]),
                                    ("area", self.area_names))}
        self._road_rank = {rd: k for k, rd in enumerate(self.roads)}
        self.folds = folds or Folds()
        self.road_py = PinyinIndex(self.roads, self.folds)
        self.estate_py = PinyinIndex([e for e in self.estates if len(e) >= 2], self.folds)
        self.area_py = PinyinIndex(self.area_names, self.folds)
        self._tree = None

    # -- finding names ------------------------------------------------------------------------------
    def _named(self, s: str, vocab: str) -> list[str]:
        """The names of a vocabulary written in `s`, longest first: a set look-up per start and name
        length, not a scan of the vocabulary."""
        names, lengths = self._vocab[vocab]
        return sorted({s[i:i + n] for n in lengths for i in range(len(s) - n + 1) if s[i:i + n] in names},
                      key=len, reverse=True)

    def _admin(self, s: str) -> tuple[list, str]:
        """The districts, streets and communities named exactly, and the text left without them."""
        found = []
        for name in self._named(s, "area"):
            if name in s:
                found.append(self.areas[name])
                s = s.replace(name, "")
        return found, s

    def _road(self, s: str, house: str | None, estate: str | None) -> tuple[str | None, float, str, str | None]:
        """The road named in `s` and how: an exact name, else one it spells in pinyin, else among the close
        ones by edit ratio — preferring one that has the house number asked for, in the estate asked for.
        Returns (road, match quality, the text left, "exact" | "pinyin" | "fuzzy" | "ambiguous" | None)."""
        got = self._road_exact(s)
        return got if got[0] else self._road_inexact(s, house, estate)

    def _road_exact(self, s: str) -> tuple[str | None, float, str, str | None]:
        """The road named exactly in `s` (the longest), and the text left without it."""
        hits = self._named(s, "road")
        if hits:
            rd = min(hits, key=lambda r: (-len(r), self._road_rank[r]))
            return rd, 1.0, s.replace(rd, "", 1), "exact"
        return None, 0.0, s, None

    def _road_inexact(self, s: str, house: str | None, estate: str | None) -> tuple[str | None, float, str, str | None]:
        """A road `s` spells in pinyin, else the closest by edit ratio, ranked by agreement with the house
        number and the estate asked for (homophone roads are told apart by what is on them)."""
        def agreement(name):
            rows = self.by_road_house.get((name, house), []) if house else []
            agrees = bool(estate) and any(estate_core(self.r.estate[i]) == estate for i in rows)
            return agrees, bool(rows), bool(estate) and estate in self.road_estates[name]

        hits = self.road_py.find(s)
        if hits:
            ranked = sorted(((agreement(n) + (ok, j - i), i, j, n) for i, j, n, ok in hits), reverse=True)
            best = ranked[0]
            tie = len(ranked) > 1 and ranked[1][0] == best[0] and ranked[1][3] != best[3]
            return best[3], PINYIN_Q[best[0][3]], s[:best[1]] + s[best[2]:], "ambiguous" if tie else "pinyin"
        m = _ROAD_RE.search(s)
        if m and self.roads:
            near = process.extract(m.group(1), self.roads, scorer=fuzz.ratio, limit=40, score_cutoff=FUZZY_MIN)
            if near:
                best = max(near, key=lambda n: agreement(n[0]) + (n[1],))
                return best[0], best[1] / 100, s.replace(m.group(1), "", 1), "fuzzy"
        return None, 0.0, s, None

    def _respelt(self, road: str, house: str, estate: str) -> tuple[str, float, str]:
        """A road typed as another real road that reads the same (经十新大道 for 经十兴大道 under the folds):
        when the named road lacks the number in the estate named and exactly one that reads the same has
        it there, that one is meant — answered, never confidently ("respelt")."""
        def in_estate(name):
            return any(estate_core(self.r.estate[k]) == estate for k in self.by_road_house.get((name, house), ()))

        if in_estate(road):
            return road, 1.0, "exact"
        alt = {n: ok for i, j, n, ok in self.road_py.find(road) if i == 0 and j == len(road) and in_estate(n)}
        if len(alt) == 1:
            (n, ok), = alt.items()
            return n, PINYIN_Q[ok], "respelt"
        return road, 1.0, "exact"

    def _estate(self, s: str, nums: dict, admin: list, fuzzy: bool = True) -> tuple[str | None, float, str | None]:
        """The estate named in `s`: a name counts whole when an estate word, a number or the end follows it;
        among the names written exactly and those spelt in pinyin the one that has the building (and unit)
        asked for, in the community or street named, exact before pinyin, then the longest, toneless before
        folded, the most characters alike, the most read as usual. A shorter estate's name inside a longer
        one typed wrong (泰和 in 泰和疑新村) is "partial", a pinyin one "pinyin" ("ambiguous" when another
        reads the same); with nothing, the closest by edit ratio ("fuzzy")."""
        def whole(j):
            return j == len(s) or s[j].isdigit() or s.startswith(ESTATE_SUFFIXES, j)

        b, u = nums.get("building"), nums.get("unit")
        places = [a[2] for a in admin]

        def agreement(core):
            has = self.estate_bu[core]
            where = self.r.address[self.by_estate[core][0]]
            return ((b, u) in has if u else (b, None) in has) if b else False, all(p in where for p in places)

        cands = []
        for core in self._named(s, "estate"):
            i = s.find(core)
            if i >= 0:
                cands.append(((whole(i + len(core)),) + agreement(core) + (True, len(core), True, len(core),
                                                                            len(core)), core))
        for i, j, core, ok in self.estate_py.find(s):
            if whole(j) and s[i:j] not in ESTATE_SUFFIXES:  # 家园 typed is the estate word, not 嘉园
                typed = s[i:j]
                same = sum(x == y for x, y in zip(typed, core))
                usual = sum(primary(x) in self.estate_py.toneless[core][k] for k, x in enumerate(typed))
                cands.append(((True,) + agreement(core) + (False, j - i, ok, same, usual), core))
        if cands:
            cands.sort(key=lambda c: c[0], reverse=True)
            key, core = cands[0]
            if key[3]:
                return core, 1.0, "exact" if key[0] else "partial"
            tie = len(cands) > 1 and cands[1][0] == key and cands[1][1] != core
            return core, PINYIN_Q[key[5]], "ambiguous" if tie else "pinyin"
        m = _ESTATE_RE.search(s) if fuzzy else None
        if m and self.estates:
            best = process.extractOne(estate_core(m.group(1)), self.estates, scorer=fuzz.ratio)
            if best and best[1] >= FUZZY_MIN:
                return best[0], best[1] / 100, "fuzzy"
        return None, 0.0, None

    def nearest(self, lon: float, lat: float, max_m: float | None = None) -> dict | None:
        """The registry address nearest a point (KD-tree on a local metric plane, built on first use), its
        distance, and a score that falls from 1 at the address to 0 at `max_m`. None when the registry is
        empty; NoAddressNear when the nearest lies beyond `max_m` (an answer that far would be a guess)."""
        if not len(self.r.lon):
            return None
        if self._tree is None:
            from scipy.spatial import cKDTree
            self._plane = LocalPlane.around(self.r.lat)
            self._tree = cKDTree(self._plane.xy(self.r.lon, self.r.lat))
        d, i = self._tree.query(self._plane.xy(lon, lat)[0])
        d = float(d)
        if max_m is not None and d > max_m:
            raise NoAddressNear(d, max_m)
        score = 1.0 if max_m is None or max_m <= 0 else max(0.0, 1.0 - d / max_m)
        return {**self._row(int(i), "building", score), "distance_m": round(d, 1)}

    # -- answering ----------------------------------------------------------------------------------
    def _row(self, i: int, level: str, score: float) -> dict:
        r = self.r
        return {"address": r.address[i], "lon": float(r.lon[i]), "lat": float(r.lat[i]), "score": round(score, 3),
                "level": level, "grid": r.grid[i]}

    def _centroid(self, rows: list[int], label: str, level: str, score: float, grid=None) -> dict:
        r = self.r
        return {"address": label, "lon": float(np.mean(r.lon[rows])), "lat": float(np.mean(r.lat[rows])),
                "score": round(score, 3), "level": level, "grid": grid}

    def geocode(self, query: str, limit: int = 5) -> dict:
        """Registry candidates for an address as typed, best first, with a calibrated score, a precision
        level and `confident` only when the one place meant is found."""
        s = normalize(query)
        if not s:
            return {"query": query, "normalized": s, "confident": False, "candidates": []}
        q = self._read(s)
        cands = self._by_number(q) or self._by_estate_building(q) or self._fallback(q)
        cands.sort(key=lambda c: -c["score"])
        return {"query": query, "normalized": s, "confident": self._confident(q, cands), "components": q.nums,
                "candidates": cands[:limit]}

    def _read(self, s: str) -> "_Query":
        """The normalised query taken apart: numbers, named areas, estate and road (with match quality)."""
        nums = numbers(s)
        admin, rest = self._admin(s)
        road, road_q, left, road_via = self._road_exact(rest)
        estate, est_q, est_via = self._estate(left, nums, admin, fuzzy=bool(road))
        if not road:
            road, road_q, left, road_via = self._road_inexact(rest, nums.get("house_number"), estate)
            if not estate:
                estate, est_q, est_via = self._estate(left, nums, admin)
        elif est_via == "exact" and nums.get("house_number"):
            road, road_q, road_via = self._respelt(road, nums["house_number"], estate)
        has_number = "house_number" in nums
        found = bool(road and has_number and self.by_road_house.get((road, nums["house_number"])))
        return _Query(s, nums, admin, estate, est_q, road, road_q,
                      quality=min(road_q if road else 1.0, est_q if estate else 1.0),
                      number_missing=bool(road and has_number and not found), number_found=found,
                      number_unplaced=has_number and not road, road_via=road_via, est_via=est_via, rest=left)

    def _narrow(self, q: "_Query", rows: list[int]) -> tuple[list[int] | None, str | None]:
        """Rows filtered by the estate, building and unit asked for; a number that matches nothing
        stops here (None). An estate the rows are not in is noted as a conflict: the number wins."""
        r = self.r
        level = "building"
        if q.estate:
            same = [i for i in rows if estate_core(r.estate[i]) == q.estate]
            if same:
                full = [i for i in same if r.estate[i] and r.estate[i] in q.s]  # 花园 said: not the 苑
                rows = full or same
            else:
                q.conflict.append(q.estate)
        if "building" in q.nums:
            rows = [i for i in rows if r.building[i] == q.nums["building"]]
            if not rows:
                return None, None
            if "unit" in q.nums:
                rows_u = [i for i in rows if r.unit[i] == q.nums["unit"]]
                if not rows_u:
                    return None, None
                rows, level = rows_u, "unit"
        return rows, level

    def _by_number(self, q: "_Query") -> list[dict]:
        """Entrances at the road and house number asked for (narrowed by estate, building, unit)."""
        if not q.number_found:
            return []
        got, level = self._narrow(q, self.by_road_house[(q.road, q.nums["house_number"])])
        if not got:
            return []
        penalty = 0.8 if q.conflict else 1.0
        return [self._row(i, level, LEVEL_SCORE[level] * q.quality * penalty) for i in got]

    def _by_estate_building(self, q: "_Query") -> list[dict]:
        """Entrances by estate and building when no house number settled it (never when the road lacks
        the number asked for: that answers with the road)."""
        if not (q.estate and "building" in q.nums and not q.number_missing and not q.number_found):
            return []
        got, level = self._narrow(q, self.by_estate[q.estate])
        return [self._row(i, level, LEVEL_SCORE[level] * q.quality * 0.98) for i in got] if got else []

    def _fallback(self, q: "_Query") -> list[dict]:
        """The coarser place when no entrance matched: the road, else the estate, else a named area."""
        if q.road:
            return [self._centroid(self.by_road[q.road], q.road, "road", LEVEL_SCORE["road"] * q.road_q)]
        if q.estate and not q.number_missing:
            return [self._centroid(self.by_estate[q.estate], q.estate, "road", LEVEL_SCORE["road"] * q.est_q * 0.9)]
        admin = q.admin or self._admin_inexact(q.rest)
        if admin:
            level, code, name, lon, lat = max(admin, key=lambda a: LEVEL_SCORE[a[0]])
            return [{"address": name, "code": code, "lon": lon, "lat": lat, "score": LEVEL_SCORE[level],
                     "level": level, "grid": None}]
        return []

    def _admin_inexact(self, s: str) -> list:
        """Districts, streets and communities `s` spells in pinyin, the longest first (the last resort)."""
        hits = sorted(self.area_py.find(s, min_len=3), key=lambda h: (h[1] - h[0], h[3]), reverse=True)
        return [self.areas[hits[0][2]]] if hits else []

    @staticmethod
    def _confident(q: "_Query", cands: list[dict]) -> bool:
        """Confident only when one registry entrance (or one building, when no unit was asked for) is
        left, and the names behind it matched exactly or, at unit precision, with at most a typo. A name
        matched only through pinyin needs an exactly named part that agrees: the estate for the road
        (with the entrance in it), the road with its house number for the estate."""
        top = cands[0] if cands else None
        unique = top is not None and (len(cands) == 1 or cands[1]["score"] < top["score"] - 0.05)
        if "ambiguous" in (q.road_via, q.est_via) or q.road_via == "respelt":
            return False
        if q.road_via == "pinyin" and not (q.est_via == "exact" and q.estate and not q.conflict):
            return False
        if q.est_via in ("pinyin", "partial") and not (q.road_via == "exact" and q.number_found):
            return False
        return bool(unique and not q.number_missing and not q.number_unplaced and not q.conflict and (
            (top["level"] == "unit" and q.quality >= 0.75)
            or (top["level"] == "building" and q.quality >= 0.9 and "building" in q.nums and "unit" not in q.nums)))


@dataclass
class _Query:
    """One normalised query taken apart, and what matching it has learnt so far."""

    s: str
    nums: dict
    admin: list
    estate: str | None
    est_q: float
    road: str | None
    road_q: float
    quality: float             # the worst of the road's and the estate's name match
    number_missing: bool       # a house number the named road does not have
    number_found: bool         # the named road has the house number
    number_unplaced: bool      # a house number with no road to check it against
    road_via: str | None = None  # how the road was made out: exact, pinyin, fuzzy, ambiguous (pinyin, tied),
    #                              respelt (another real road that reads the same and has the number)
    est_via: str | None = None   # how the estate was made out: the same
    rest: str = ""               # the text left once the named areas and the road are taken out
    conflict: list = field(default_factory=list)  # estates named that the numbered entrance is not in


def load_geocoder(engine: Engine, locator=None, folds: str | None = None) -> Geocoder:
    """The registry from PostGIS (components parsed when the row has none), grid codes by the engine;
    folds: the city's dialect folds (a preset or pairs; unset = WANGGE_PINYIN_FOLDS)."""
    if folds is None:
        from gis.settings import get_settings
        folds = get_settings().pinyin_folds
    fold = parse_folds(folds)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT address, components, ST_X(geom) AS x, ST_Y(geom) AS y FROM address "
                                 "ORDER BY id")).all()
    comps = [(r.components or {}) if (r.components or {}).get("road") else parse_registry(r.address) for r in rows]

    def col(k, strip=""):
        return np.array([normalize(str(c.get(k) or "")).removesuffix(strip) for c in comps], dtype=object)

    lon = np.array([r.x for r in rows], float)
    lat = np.array([r.y for r in rows], float)
    grid = np.full(len(rows), None, dtype=object)
    areas = {}
    if locator is not None and "grid" in locator.levels and len(rows):
        grid = np.array(locator.locate_codes(lon, lat)["grid"], dtype=object)
    if locator is not None:
        for level in ("district", "street", "community"):
            d = locator.levels.get(level)
            if d is None:
                continue
            for code, name, g in zip(d.codes, d.names, d.geoms):
                p = g.representative_point()
                areas[normalize(name)] = (level, code, name, p.x, p.y)
    reg = Registry(np.array([r.address for r in rows], dtype=object), lon, lat, col("road"),
                   col("house_number", "号"), col("estate"), col("building", "栋"), col("unit", "单元"), grid)
    return Geocoder(reg, areas, fold)

