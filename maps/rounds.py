"""The rounds map: each unit coloured by days since its last visit (入户问需 is weekly), with a legend and
the grids outlined."""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np

from maps.command import legend, outlines
from maps.grids import _light, base_map, fit

# (upper bound in days, label, colour): within a week, two, four, longer, never
BANDS = ((7, "≤ 7 天 within a week", "#1a9850"), (14, "8–14 天", "#fee08b"), (28, "15–28 天", "#fc8d59"),
         (float("inf"), "> 28 天", "#d73027"))
NEVER = ("从未走访 never visited", "#9e9e9e")


def band_colours(days: np.ndarray) -> np.ndarray:
    """The colour of each unit's band (NaN days: never visited), vectorised."""
    out = np.full(len(days), NEVER[1], dtype=object)
    known = ~np.isnan(days)
    idx = np.searchsorted(np.array([b[0] for b in BANDS]), days[known], side="left")
    out[known] = np.array([b[2] for b in BANDS], dtype=object)[idx]
    return out


def rounds_map(units: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, title: str) -> folium.Map:
    """units: code, name, households, days (float, NaN = never) and geometry; grids: name, geometry."""
    m = base_map(title)
    frame = units[["code", "name", "households", "geometry"]].copy()
    frame["geometry"] = _light(frame.geometry.values, 1.0)
    days = units["days"].to_numpy(dtype=float)
    frame["colour"] = band_colours(days)
    frame["days"] = np.where(np.isnan(days), "—", np.char.mod("%d", np.nan_to_num(days).astype(int)))
    group = folium.FeatureGroup(name=f"十联户 units ({len(frame):,})", show=True)
    folium.GeoJson(frame.__geo_interface__,
                   style_function=lambda f: {"color": "#555", "weight": 0.5, "fillOpacity": 0.7,
                                             "fillColor": f["properties"]["colour"]},
                   tooltip=folium.GeoJsonTooltip(fields=["name", "code", "households", "days"],
                                                 aliases=["名称", "编码", "户数", "距上次走访 天"])).add_to(group)
    group.add_to(m)
    if len(grids):
        outlines(m, grids, "网格 grids")
    legend(m, "距上次走访 days since the last visit", {label: c for _, label, c in BANDS} | {NEVER[0]: NEVER[1]})
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, units if len(units) else grids)
    return m
