"""The before/after map of a redraw: two maps side by side, moving together (folium DualMap with the
vendored Leaflet.Sync): the parent's areas before on the left, the proposal on the right, with the
buildings that change area and every validation finding where it is."""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from folium.plugins import DualMap

from maps.command import legend
from maps.grids import PASTEL, _light, fit, page_head

FINDING_COLOUR = {"error": "#c62828", "warning": "#ef6c00"}


def _areas(frame: gpd.GeoDataFrame, name: str, dash: str | None = None) -> folium.GeoJson:
    f = gpd.GeoDataFrame({"code": frame["code"].to_numpy(), "name": frame["name"].to_numpy(),
                          "households": frame["households"].astype(int).to_numpy(),
                          "fill": [PASTEL[int(c[-3:]) % len(PASTEL)] if c[-3:].isdigit() else "#eeeeee"
                                   for c in frame["code"]]},
                         geometry=_light(frame.geometry.values, 0.5), crs=4326)
    return folium.GeoJson(f.__geo_interface__, name=name,
                          style_function=lambda x: {"color": "#37474f", "weight": 2, "fillOpacity": 0.5,
                                                    "fillColor": x["properties"]["fill"], "dashArray": dash},
                          tooltip=folium.GeoJsonTooltip(fields=["name", "code", "households"],
                                                        aliases=["名称", "编码", "户数"]))


def proposal_frame(collection: dict | None, households: dict[str, int] | None = None) -> gpd.GeoDataFrame:
    """The features of a proposal kept on its redraw (an invalid one) as areas to draw: code, name,
    households, geometry; invalid shapes repaired for drawing only, features with no shape left out."""
    feats = (collection or {}).get("features") or []
    geoms = [shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None for f in feats]
    geoms = np.array([None if g is None or g.is_empty else (g if g.is_valid else shapely.make_valid(g))
                      for g in geoms], dtype=object)
    codes = [str((f.get("properties") or {}).get("code") or "") for f in feats]
    frame = gpd.GeoDataFrame({"code": codes, "name": [str((f.get("properties") or {}).get("name") or "")
                                                      for f in feats],
                              "households": [int((households or {}).get(c, 0)) for c in codes]},
                             geometry=gpd.GeoSeries(list(geoms), crs=4326), crs=4326)
    return frame[frame.geometry.notna()].reset_index(drop=True)


def redraw_map(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame | None, moves: gpd.GeoDataFrame,
               findings: gpd.GeoDataFrame, title: str) -> folium.Map:
    """before/after: code, name, households, geometry; moves: address, from, to, households, geometry;
    findings: kind, severity, message, geometry (those with a location)."""
    m = DualMap(tiles=None, layout="horizontal", control_scale=True, prefer_canvas=True)
    page_head(m, title)
    left = folium.FeatureGroup(name=f"改前 before ({len(before)})", show=True)
    _areas(before, "before").add_to(left)
    left.add_to(m.m1)
    right = folium.FeatureGroup(name=f"改后 after ({0 if after is None else len(after)})", show=True)
    if after is not None and len(after):
        _areas(after, "after").add_to(right)
    right.add_to(m.m2)
    if len(moves):
        for side, label in ((m.m1, "from"), (m.m2, "to")):
            group = folium.FeatureGroup(name=f"变动楼栋 buildings that move ({len(moves):,})", show=True)
            folium.GeoJson(moves[["address", "from", "to", "households", "geometry"]].__geo_interface__,
                           marker=folium.CircleMarker(radius=4, color="#6a1b9a", fill=True, fill_opacity=0.9, weight=1),
                           tooltip=folium.GeoJsonTooltip(fields=["address", "from", "to", "households"],
                                                         aliases=["地址", "原网格", "新网格", "户数"])).add_to(group)
            group.add_to(side)
    if len(findings):
        group = folium.FeatureGroup(name=f"问题 findings ({len(findings)})", show=True)
        folium.GeoJson(findings[["kind", "severity", "message", "geometry"]].__geo_interface__,
                       style_function=lambda x: {"color": FINDING_COLOUR.get(x["properties"]["severity"], "#c62828"),
                                                 "weight": 3, "fillOpacity": 0.35,
                                                 "fillColor": FINDING_COLOUR.get(x["properties"]["severity"], "#c62828")},
                       marker=folium.CircleMarker(radius=7, color="#c62828", fill=True, fill_opacity=0.8),
                       tooltip=folium.GeoJsonTooltip(fields=["kind", "severity", "message"],
                                                     aliases=["问题", "级别", "说明"])).add_to(group)
        group.add_to(m.m2)
    legend(m.m2, title, {"错误 error": FINDING_COLOUR["error"], "提示 warning": FINDING_COLOUR["warning"],
                         "变动楼栋 moved building": "#6a1b9a"})
    folium.LayerControl(collapsed=False).add_to(m.m1)
    folium.LayerControl(collapsed=False).add_to(m.m2)
    drawn = [f for f in (before, after) if f is not None and len(f)]
    fit(m, pd.concat(drawn, ignore_index=True) if drawn else None)  # a proposal far away stays in view
    return m
