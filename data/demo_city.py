"""A deterministic demo city: the five-level hierarchy, addresses, staff, stations, a walking network
and a year of requests, at `small` (tests) or `city` (real) scale.

Everything stands on one jittered lattice of parcels (~25 m) in UTM 50N: every area is a rectangle of
parcels whose ring walks every lattice vertex along its sides, so neighbours share exactly the same
vertices (no T-junctions), and levels tile their parents with no gap or overlap, in metres and, after one
vectorised transform of the lattice, in lon/lat too. Areas are cut by recursive bisection on household
counts; street and community cuts fall on road lines where the rectangle is large enough.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from data import names as N
from gis.planar import LocalPlane, degrees

PARCEL_M = 25.0
ROAD_EVERY = 4          # a local road every 4 parcels (100 m), an arterial every 16 (400 m)
ARTERIAL_EVERY = 16
ORIGIN = (488_000.0, 4_052_000.0)  # UTM 50N, near Jinan (lon ≈ 116.87, lat ≈ 36.61)
END = pd.Timestamp("2026-11-01")

SCALES = {
    # households, streets, communities, grid target households, unit target households, requests
    "small": dict(households=10_000, streets=2, communities=6, grid_hh=340, unit_hh=10, stations=20,
                  requests=20_000),
    # one community of 3,000 households: the input of bench/redraw.py
    "community3k": dict(households=3_000, streets=1, communities=1, grid_hh=375, unit_hh=10, stations=3,
                        requests=1_000),
    "city": dict(households=780_000, streets=19, communities=152, grid_hh=355, unit_hh=10, stations=220,
                 requests=1_050_000),
}


# The grid tier schemes of `wangge demo --tiers N`: (name, digits added to the parent's code, nests).
# The demo's tiers nest exactly (each grid is cut from its parent grid's rectangle).
TIER_SCHEMES = {
    1: [("网格", 3, False)],
    2: [("大网格", 3, False), ("小网格", 2, True)],
    3: [("网格", 3, False), ("小区网格", 2, True), ("楼栋网格", 2, True)],
}


@dataclass
class DemoCity:
    """The demo city as built: its areas of every level (grids with their `tier`), its address registry
    and its grid tier scheme."""
    areas: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    staff: pd.DataFrame
    stations: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    requests: pd.DataFrame
    tiers: list = None  # [(name, digits, nests), ...] coarsest first


# -- the lattice --------------------------------------------------------------------------------------
def _lattice(rng, households: int):
    """Parcel household counts (ny, nx) and jittered vertex coordinates (ny+1, nx+1) in metres."""
    mean_hh = 5.0
    n_parcels = int(households / mean_hh / 0.85)
    side = int(np.ceil(np.sqrt(n_parcels) / ARTERIAL_EVERY)) * ARTERIAL_EVERY
    nx = side
    ny = int(np.ceil(n_parcels / nx / ROAD_EVERY)) * ROAD_EVERY
    # Density varies smoothly (denser core), 15 % of parcels are parks, squares or schools (no homes).
    yy, xx = np.mgrid[0:ny, 0:nx]
    core = np.exp(-(((xx - nx * 0.45) / (nx * 0.6)) ** 2 + ((yy - ny * 0.55) / (ny * 0.6)) ** 2))
    lam = mean_hh * (0.6 + 0.8 * core)
    hh = rng.poisson(lam)
    hh[rng.random((ny, nx)) < 0.15] = 0
    # Scale to the wanted total exactly.
    diff = households - int(hh.sum())
    flat = hh.ravel()
    homes = np.flatnonzero(flat > 0)
    if diff > 0:
        np.add.at(flat, rng.choice(homes, diff), 1)
    elif diff < 0:
        for _ in range(20):
            take = rng.choice(np.flatnonzero(flat > 1), min(-diff, int((flat > 1).sum())), replace=False)
            flat[take] -= 1
            diff = households - int(flat.sum())
            if diff >= 0:
                break
    hh = flat.reshape(ny, nx)
    vx = ORIGIN[0] + np.arange(nx + 1)[None, :] * PARCEL_M + rng.uniform(-3, 3, (ny + 1, nx + 1))
    vy = ORIGIN[1] + np.arange(ny + 1)[:, None] * PARCEL_M + rng.uniform(-3, 3, (ny + 1, nx + 1))
    vx[:, 0], vx[:, -1] = ORIGIN[0], ORIGIN[0] + nx * PARCEL_M  # a straight outer boundary
    vy[0, :], vy[-1, :] = ORIGIN[1], ORIGIN[1] + ny * PARCEL_M
    return hh, vx, vy


# -- recursive bisection ------------------------------------------------------------------------------
def _split(hh_cum, rect, k, snap):
    """Cut rect = (i0, j0, i1, j1) (columns i, rows j, half-open) into k rectangles of about equal
    households by recursive bisection along the longer side; cuts snap to multiples of `snap` when
    the rectangle is long enough."""
    out = []
    stack = [(rect, k)]
    while stack:
        (i0, j0, i1, j1), k = stack.pop()
        w, h = i1 - i0, j1 - j0
        if k <= 1 or w * h <= 1:
            out.append((i0, j0, i1, j1))
            continue
        k1 = k // 2
        along_x = w >= h
        n = w if along_x else h
        if n < 2:
            along_x = not along_x
            n = w if along_x else h
        # households per column (or row) of the rectangle from the 2-D cumulative sum
        if along_x:
            col = hh_cum[j1, i0 + 1:i1 + 1] - hh_cum[j0, i0 + 1:i1 + 1] - hh_cum[j1, i0] + hh_cum[j0, i0]
            line = np.diff(np.r_[0, col])
        else:
            row = hh_cum[j0 + 1:j1 + 1, i1] - hh_cum[j0 + 1:j1 + 1, i0] - hh_cum[j0, i1] + hh_cum[j0, i0]
            line = np.diff(np.r_[0, row])
        cum = np.cumsum(line)
        total = cum[-1]
        target = total * k1 / k if total > 0 else None
        cuts = np.arange(1, n)
        if snap > 1 and n >= 3 * snap:
            snapped = cuts[((cuts + (i0 if along_x else j0)) % snap) == 0]
            if len(snapped):
                cuts = snapped
        if target is None:
            c = int(cuts[np.argmin(np.abs(cuts - n * k1 / k))])
        else:
            c = int(cuts[np.argmin(np.abs(cum[cuts - 1] - target))])
        if along_x:
            a, b = (i0, j0, i0 + c, j1), (i0 + c, j0, i1, j1)
        else:
            a, b = (i0, j0, i1, j0 + c), (i0, j0 + c, i1, j1)
        ha, hb = _rect_sum(hh_cum, a), _rect_sum(hh_cum, b)
        if total > 0:  # give each side the number of parts its households call for
            ka = int(np.clip(round(k * ha / total), 1, k - 1))
        else:
            ka = k1
        stack.append((b, k - ka))
        stack.append((a, ka))
    return out


def _rect_sum(hh_cum, r):
    i0, j0, i1, j1 = r
    return int(hh_cum[j1, i1] - hh_cum[j0, i1] - hh_cum[j1, i0] + hh_cum[j0, i0])


def _ring(vx, vy, r):
    """The closed ring of a parcel rectangle through every lattice vertex on its sides (counter-clockwise)."""
    i0, j0, i1, j1 = r
    ii = np.r_[np.arange(i0, i1), np.full(j1 - j0, i1), np.arange(i1, i0, -1), np.full(j1 - j0, i0), i0]
    jj = np.r_[np.full(i1 - i0, j0), np.arange(j0, j1), np.full(i1 - i0, j1), np.arange(j1, j0, -1), j0]
    return np.column_stack([vx[jj, ii], vy[jj, ii]])


def _order_west_east_north_south(rects):
    """Sequence numbers for sibling areas: north to south in bands, west to east inside each band."""
    r = np.array(rects)
    cy = (r[:, 1] + r[:, 3]) / 2
    cx = (r[:, 0] + r[:, 2]) / 2
    band = np.floor(-cy / max(1.0, np.median(r[:, 3] - r[:, 1]))).astype(int)
    return np.lexsort((cx, band))


# -- the city -----------------------------------------------------------------------------------------
def _grid_tiers(hh_cum, cr, ccode, cname, n_finest: int, scheme) -> list[tuple]:
    """A community's grids of every tier as rows (level, code, name, parent, households, rect, tier),
    coarsest first: tier 1 cut from the community, each deeper tier's grids cut in two from their
    parent grid's rectangle (contiguous and nested), so the finest tier has about `n_finest` grids."""
    depth = len(scheme)
    rows, parents = [], [(ccode, cname, cr)]
    for t, (tname, digits, _nests) in enumerate(scheme, start=1):
        below = []
        for pcode, pname, prect in parents:
            k = max(1, round(n_finest / 2 ** (depth - 1))) if t == 1 else 2
            parts = _split(hh_cum, prect, k, 1)
            for gi, gr in enumerate(np.array(parts)[_order_west_east_north_south(parts)]):
                gr = tuple(int(v) for v in gr)
                gcode = f"{pcode}{gi + 1:0{digits}d}"
                gname = f"{pname}第{gi + 1}{tname}"
                rows.append(("grid", gcode, gname, pcode, _rect_sum(hh_cum, gr), gr, t))
                below.append((gcode, gname, gr))
        parents = below
    return rows


def build_city(scale: str = "small", seed: int = 0, progress=None, tiers: int = 1) -> DemoCity:
    """Build the deterministic demo city at `scale` (small or city) from `seed`: areas, addresses, households;
    with `tiers` 2 or 3 its grids come in tiers (TIER_SCHEMES), units under the finest."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if tiers not in TIER_SCHEMES:
        raise ValueError(f"tiers must be one of {', '.join(map(str, TIER_SCHEMES))}, not {tiers!r}")
    scheme = TIER_SCHEMES[tiers]
    p = SCALES[scale]
    tick = progress or (lambda step, f: None)
    rng = np.random.default_rng(seed)
    tick("lattice", 0.0)
    hh, vx, vy = _lattice(rng, p["households"])
    ny, nx = hh.shape
    hh_cum = np.zeros((ny + 1, nx + 1), dtype=np.int64)
    hh_cum[1:, 1:] = hh.cumsum(0).cumsum(1)
    to_ll = Transformer.from_crs(32650, 4326, always_xy=True)
    lon, lat = to_ll.transform(vx, vy)

    district_code = "370102"
    names = N.Names(rng)
    rows = []  # (level, code, name, parent, households, rect, tier)

    rows.append(("district", district_code, "历下区", None, int(hh.sum()), (0, 0, nx, ny), None))
    tick("streets and communities", 0.1)
    streets = _split(hh_cum, (0, 0, nx, ny), p["streets"], ARTERIAL_EVERY)
    per_street = _apportion(p["communities"], [_rect_sum(hh_cum, r) for r in streets])
    grid_rects, unit_rects = [], []
    for si, sr in enumerate(np.array(streets)[_order_west_east_north_south(streets)]):
        sr = tuple(int(v) for v in sr)
        scode = f"{district_code}{si + 1:03d}"
        rows.append(("street", scode, names.street(), district_code, _rect_sum(hh_cum, sr), sr, None))
        comms = _split(hh_cum, sr, per_street[si], ROAD_EVERY)
        for ci, cr in enumerate(np.array(comms)[_order_west_east_north_south(comms)]):
            cr = tuple(int(v) for v in cr)
            ccode = f"{scode}{ci + 1:03d}"
            cname = names.community()
            chh = _rect_sum(hh_cum, cr)
            rows.append(("community", ccode, cname, scode, chh, cr, None))
            grid_rows = _grid_tiers(hh_cum, cr, ccode, cname, max(1, round(chh / p["grid_hh"])), scheme)
            rows += grid_rows
            grid_rects += [(r[1], r[5]) for r in grid_rows if r[6] == len(scheme)]
    tick("units", 0.3)
    for gcode, gr in grid_rects:
        ghh = _rect_sum(hh_cum, gr)
        units = _split(hh_cum, gr, max(1, round(ghh / p["unit_hh"])), 1)
        for ui, ur in enumerate(np.array(units)[_order_west_east_north_south(units)]):
            ur = tuple(int(v) for v in ur)
            rows.append(("unit", f"{gcode}{ui + 1:03d}", f"第{ui + 1}联户", gcode, _rect_sum(hh_cum, ur), ur, None))
            unit_rects.append(ur)

    tick("geometry", 0.45)
    rects = [r[5] for r in rows]
    rings = [_ring(lon, lat, r) for r in rects]
    geoms = [shapely.MultiPolygon([shapely.Polygon(ring)]) for ring in rings]
    areas = gpd.GeoDataFrame({
        "level": [r[0] for r in rows], "code": [r[1] for r in rows], "name": [r[2] for r in rows],
        "parent_code": [r[3] for r in rows], "households": np.array([r[4] for r in rows], dtype=np.int64),
        "tier": pd.array([r[6] for r in rows], dtype="Int16"),
    }, geometry=geoms, crs=4326)

    tick("addresses", 0.6)
    unit_of = np.full((ny, nx), -1, dtype=np.int64)
    unit_rows = np.flatnonzero(areas["level"].to_numpy() == "unit")
    for k, (i0, j0, i1, j1) in zip(unit_rows, unit_rects):
        unit_of[j0:j1, i0:i1] = k
    road_names = (names.roads(ny + 1, "ew"), names.roads(nx + 1, "ns"))  # one name per lattice line
    addresses = _addresses(rng, names, areas, hh, unit_of, lon, lat, road_names)
    tick("network", 0.7)
    streets_gdf = _network(road_names, lon, lat)
    tick("staff and stations", 0.75)
    staff = _staff(rng, names, areas)
    stations = _stations(rng, names, areas, addresses, p["stations"])
    tick("requests", 0.8)
    requests = _requests(rng, addresses, areas, p["requests"], (lon, lat))
    tick("done", 1.0)
    return DemoCity(areas, addresses, staff, stations, streets_gdf, requests, scheme)


def _apportion(total, weights):
    w = np.asarray(weights, float)
    raw = total * w / w.sum()
    out = np.maximum(1, np.floor(raw).astype(int))
    while out.sum() < total:
        out[np.argmax(raw - out)] += 1
    while out.sum() > total:
        out[np.argmax(out - raw)] -= 1
    return out.tolist()


def _addresses(rng, names, areas, hh, unit_of, lon, lat, road_names) -> gpd.GeoDataFrame:
    """One address per inhabited parcel: a building entrance at the parcel's centre."""
    jj, ii = np.nonzero(hh > 0)
    # centre of the parcel's four (jittered) corners: strictly inside the parcel, hence its unit
    cx = (lon[jj, ii] + lon[jj, ii + 1] + lon[jj + 1, ii] + lon[jj + 1, ii + 1]) / 4
    cy = (lat[jj, ii] + lat[jj, ii + 1] + lat[jj + 1, ii] + lat[jj + 1, ii + 1]) / 4
    unit_idx = unit_of[jj, ii]
    codes = areas["code"].to_numpy()
    unit_code = codes[unit_idx]
    grid_code = np.array([c[:-3] for c in unit_code])  # a unit's code is its (finest) grid's + 3 digits
    comm_code = np.array([c[:12] for c in unit_code])
    street_code = np.array([c[:9] for c in unit_code])
    name_of = dict(zip(areas["code"], areas["name"]))
    # roads: the local road line south of each parcel's block row, named per line
    road_row = (jj // ROAD_EVERY) * ROAD_EVERY
    road_col = (ii // ROAD_EVERY) * ROAD_EVERY
    use_ns = (ii % ROAD_EVERY) < (jj % ROAD_EVERY)  # nearer a north–south road
    road_names_ew, road_names_ns = road_names
    road = np.where(use_ns, np.array(road_names_ns, dtype=object)[road_col],
                    np.array(road_names_ew, dtype=object)[road_row])
    house = np.where(use_ns, jj * 2 + 1, ii * 2 + 2)
    estates = {g: names.estate() for g in np.unique(grid_code)}
    estate = np.array([estates[g] for g in grid_code], dtype=object)
    # buildings numbered inside each estate (grid), entrances (单元) 1–3
    order = np.lexsort((ii, -jj, grid_code))
    building = np.empty(len(jj), dtype=np.int64)
    g_sorted = grid_code[order]
    start = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    seq = np.arange(len(order)) - np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    building[order] = seq // 2 + 1
    unit_no = np.where(seq[np.argsort(order)] % 2 == 0, 1, 2)
    full = [f"山东省济南市历下区{name_of[s]}{name_of[c]}{r}{h}号{e}{b}栋{u}单元"
            for s, c, r, h, e, b, u in zip(street_code, comm_code, road, house, estate, building, unit_no)]
    return gpd.GeoDataFrame({
        "address": full, "road": road, "house_number": [f"{h}号" for h in house], "estate": estate,
        "building": [f"{b}栋" for b in building], "unit_no": [f"{u}单元" for u in unit_no],
        "households": hh[jj, ii].astype(np.int64),
        "building_code": [f"B{g}{k:05d}" for k, g in enumerate(grid_code)],
        "unit_code": unit_code, "grid_code": grid_code,
    }, geometry=shapely.points(cx, cy), crs=4326)


def _network(road_names, lon, lat) -> gpd.GeoDataFrame:
    """Walkable edges along road lattice lines (every lattice segment on a road is an edge), plus
    footpaths through the middle of each block; edges share their end vertices exactly."""
    ny1, nx1 = lon.shape
    segs, kinds, road = [], [], []
    ew_names, ns_names = road_names
    for j in range(0, ny1, ROAD_EVERY // 2):
        kind = "arterial" if j % ARTERIAL_EVERY == 0 else ("local" if j % ROAD_EVERY == 0 else "path")
        for i in range(nx1 - 1):
            segs.append(((lon[j, i], lat[j, i]), (lon[j, i + 1], lat[j, i + 1])))
            kinds.append(kind)
            road.append(ew_names[j] if kind != "path" else "小区步道")
    for i in range(0, nx1, ROAD_EVERY // 2):
        kind = "arterial" if i % ARTERIAL_EVERY == 0 else ("local" if i % ROAD_EVERY == 0 else "path")
        for j in range(ny1 - 1):
            segs.append(((lon[j, i], lat[j, i]), (lon[j + 1, i], lat[j + 1, i])))
            kinds.append(kind)
            road.append(ns_names[i] if kind != "path" else "小区步道")
    return gpd.GeoDataFrame({"name": road, "kind": kinds}, geometry=shapely.linestrings(np.array(segs)), crs=4326)


def _staff(rng, names, areas) -> pd.DataFrame:
    """The city's people: with one grid tier a grid worker, a grid leader and a holding department per
    grid; with more, a grid leader (网格长) per coarser grid and the worker and department per finest."""
    rows = []
    tier = areas["tier"].fillna(0).to_numpy(dtype=int)
    finest = tier.max()
    for level, code, t in zip(areas["level"], areas["code"], tier):
        if level == "grid" and finest > 1 and t < finest:
            rows.append((names.person(), "grid_leader", names.mobile(), level, code))
        elif level == "grid" and finest > 1:
            rows.append((names.person(), "grid_worker", names.mobile(), level, code))
            rows.append((names.department(), "holding_department", names.office(), level, code))
        elif level == "grid":
            rows.append((names.person(), "grid_worker", names.mobile(), level, code))
            rows.append((names.person(), "grid_leader", names.mobile(), level, code))
            rows.append((names.department(), "holding_department", names.office(), level, code))
        elif level == "unit":
            rows.append((names.person(), "unit_leader", names.mobile(), level, code))
        elif level == "community":
            rows.append((names.person(), "community_secretary", names.mobile(), level, code))
    return pd.DataFrame(rows, columns=["name", "role", "phone", "level", "area_code"])


def _stations(rng, names, areas, addresses, total) -> gpd.GeoDataFrame:
    """A party-and-people service centre in every community (at its most central address), and
    convenience stations and red posts at random addresses for the rest."""
    comm = areas[areas["level"] == "community"]
    addr_comm = addresses["unit_code"].str[:12].to_numpy()
    ax, ay = addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()
    rows = []
    for code, name, geom in zip(comm["code"], comm["name"], comm.geometry):
        idx = np.flatnonzero(addr_comm == code)
        if not len(idx):
            continue
        c = geom.centroid
        k = idx[np.argmin((ax[idx] - c.x) ** 2 + (ay[idx] - c.y) ** 2)]
        rows.append((f"{name}党群服务中心", "party_service_center", addresses["address"].iat[k], ax[k], ay[k]))
    extra = max(0, total - len(rows))
    for n, k in enumerate(rng.choice(len(addresses), extra, replace=False)):
        kind = "convenience_station" if n % 3 else "red_post"
        label = "便民服务站" if kind == "convenience_station" else "红色驿站"
        rows.append((f"{addresses['estate'].iat[k]}{label}", kind, addresses["address"].iat[k], ax[k], ay[k]))
    df = pd.DataFrame(rows, columns=["name", "kind", "address", "lon", "lat"])
    return gpd.GeoDataFrame(df[["name", "kind", "address"]], geometry=shapely.points(df["lon"], df["lat"]), crs=4326)


CATEGORIES = ("政策咨询", "矛盾调解", "代办服务", "环境卫生", "安全隐患", "设施维修", "困难帮扶")
MATTER = {"政策咨询": "public", "矛盾调解": "shared", "代办服务": "private", "环境卫生": "shared",
          "安全隐患": "public", "设施维修": "shared", "困难帮扶": "private"}
TEXTS = {"政策咨询": "咨询医保报销政策", "矛盾调解": "邻里噪音纠纷需要调解", "代办服务": "老人需代办证件",
         "环境卫生": "楼道垃圾堆放无人清理", "安全隐患": "电动车楼道充电存在隐患", "设施维修": "单元门禁损坏",
         "困难帮扶": "独居老人需要上门探访"}


def _requests(rng, addresses, areas, n, lattice) -> pd.DataFrame:
    """A year of requests: most follow households, a share comes from a few hotspots, each with its
    own mix of categories; times follow weekly and daily rhythms."""
    ax, ay = addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()
    w = addresses["households"].to_numpy(float)
    n_hot = int(n * 0.3)
    base = rng.choice(len(ax), n - n_hot, p=w / w.sum())
    k_spots = 8
    spots = rng.choice(len(ax), k_spots, replace=False, p=w / w.sum())
    spot_of = rng.integers(0, k_spots, n_hot)
    # hotspot requests land on addresses within ~120 m of the hotspot's centre
    hot_addr = np.empty(n_hot, dtype=np.int64)
    for s in range(k_spots):
        dx, dy = LocalPlane(ay[spots[s]]).xy(ax - ax[spots[s]], ay - ay[spots[s]]).T
        near = np.flatnonzero(dx * dx + dy * dy < 120.0 ** 2)
        sel = spot_of == s
        hot_addr[sel] = rng.choice(near, int(sel.sum()))
    which = np.r_[base, hot_addr]
    # a small scatter around the entrance (≤ 5 m), staying inside the parcel
    deg = degrees(5.0)
    lon = ax[which] + rng.uniform(-deg, deg, n)
    lat = ay[which] + rng.uniform(-deg, deg, n)
    cat_p = np.array([0.12, 0.12, 0.14, 0.22, 0.12, 0.18, 0.10])
    cats = rng.choice(len(CATEGORIES), n, p=cat_p)
    spot_cat = rng.integers(0, len(CATEGORIES), k_spots)
    themed = np.flatnonzero(rng.random(n_hot) < 0.7)  # 70 % of a hotspot's requests share its theme
    cats[n - n_hot + themed] = spot_cat[spot_of[themed]]
    day = rng.integers(0, 365, n)
    start = END - pd.Timedelta(days=365)
    dates = start + pd.to_timedelta(day, unit="D")
    weekday = dates.day_of_week.to_numpy()
    keep_weekend = rng.random(n) < 0.6  # fewer requests at weekends: move 40 % of them to Monday
    shift = np.where((weekday >= 5) & ~keep_weekend, 7 - weekday, 0)
    hours = np.clip(rng.normal(13, 3.5, n), 7, 22)
    created = dates + pd.to_timedelta(shift, unit="D") + pd.to_timedelta(hours * 3600, unit="s")
    created = created.where(created < END, created - pd.Timedelta(days=7))
    cat_names = np.array(CATEGORIES, dtype=object)[cats]
    out = pd.DataFrame({
        "created_at": created.floor("s"), "category": cat_names,
        "matter_class": [MATTER[c] for c in cat_names],
        "importance": (rng.random(n) < 0.2).astype(np.int8), "urgency": (rng.random(n) < 0.15).astype(np.int8),
        "text": [TEXTS[c] for c in cat_names], "lon": lon, "lat": lat,
    })
    return _lifecycle(rng, out, addresses["grid_code"].to_numpy()[which])


RESULTS = {"政策咨询": "已电话解答并上门送达政策明白纸", "矛盾调解": "网格员组织双方调解，达成一致",
           "代办服务": "联户长代办完成并送证上门", "环境卫生": "已清运楼道堆放物并张贴提示",
           "安全隐患": "已劝离楼道充电车辆并加装充电桩", "设施维修": "物业已更换门禁并复核",
           "困难帮扶": "志愿者已上门探访并建立结对帮扶"}


def _lifecycle(rng, req: pd.DataFrame, grid_of: np.ndarray) -> pd.DataFrame:
    """Where each request stands at END: colour and deadline from the shipped rules; handling time set
    by the grid's own pace (a few grids are slow), so on-time rates, ratings and rankings differ; the
    ones still running at END are open (and past their deadline: escalated for supervision)."""
    from gis.command.rules import load_rules

    rules = load_rules()
    n = len(req)
    colour = np.empty(n, dtype=object)
    hours = np.empty(n)
    for c in rules.colours.values():
        sel = (req["importance"].to_numpy() == int(c.important)) & (req["urgency"].to_numpy() == int(c.urgent))
        colour[sel], hours[sel] = c.name, c.hours
    grids, gi = np.unique(grid_of, return_inverse=True)
    pace = np.exp(rng.normal(0.0, 0.3, len(grids)))
    pace[rng.random(len(grids)) < 0.03] = 2.2  # slow grids
    took_h = hours * pace[gi] * rng.beta(2, 3, n) * 1.6
    created = req["created_at"].dt.tz_localize("Asia/Shanghai")
    due = created + pd.to_timedelta(hours, unit="h")
    finished = created + pd.to_timedelta(took_h, unit="h")
    end = END.tz_localize("Asia/Shanghai")
    done = (finished <= end).to_numpy()
    on_time = took_h <= hours
    rated = done & ((finished + pd.Timedelta(days=2)) <= end).to_numpy()
    sat = np.where(on_time, rng.choice([5, 4, 3], n, p=[0.6, 0.3, 0.1]), rng.choice([4, 3, 2, 1], n, p=[0.2, 0.4, 0.3, 0.1]))
    sat = np.clip(sat - (pace[gi] > 1.8), 1, 5)
    rejected = rng.random(n) < 0.01
    elapsed = (end - created).dt.total_seconds().to_numpy() / 3600
    open_status = np.where(elapsed < 0.15 * took_h, "dispatched",
                           np.where(rng.random(n) < 0.08, "coordinating", "handling"))
    overdue = ~done & (due < end).to_numpy()
    status = np.where(done, np.where(rated, "evaluated", "fed_back"), np.where(overdue, "supervised", open_status))
    status = np.where(rejected, "rejected", status)
    keep_done = done & ~rejected
    req["status"] = status
    req["colour"] = colour
    req["due_at"] = due
    req["finished_at"] = finished.where(keep_done)
    req["closed_at"] = (finished + pd.to_timedelta(rng.uniform(12, 48, n), unit="h")).where(rated & ~rejected)
    req.loc[rejected, "closed_at"] = (created + pd.Timedelta(hours=6))[rejected]
    req["escalated_at"] = due.where(overdue & ~rejected)
    req["satisfaction"] = pd.Series(sat, dtype="Int16").where(rated & ~rejected)
    req["result"] = pd.Series([RESULTS[c] for c in req["category"]], dtype=object).where(keep_done)
    return req
