"""The coverage map: 15-minute service circles, each community's covered share, uncovered buildings."""
from __future__ import annotations

import branca.colormap as cm
import folium
import geopandas as gpd

from maps.command import legend
from gis.vocab import STATION_KINDS
from maps.grids import KIND_COLOUR, OTHER_KIND_COLOUR, _light, add_stations, base_map, fit


def kind_legend(kinds) -> dict[str, str]:
    """Legend entries (label → colour) for the station kinds present: known kinds with their label and
    colour, every other kind as given, in the neutral colour, each with its own entry."""
    present = sorted({str(k) for k in kinds})
    known = [(STATION_KINDS[k], KIND_COLOUR[k]) for k in STATION_KINDS if k in present]
    other = [(k, OTHER_KIND_COLOUR) for k in present if k not in STATION_KINDS]
    return {label: colour for label, colour in known + other}


def coverage_map(areas: gpd.GeoDataFrame, circles: gpd.GeoDataFrame, uncovered: gpd.GeoDataFrame,
                 stations: gpd.GeoDataFrame, minutes: float = 15, title: str = "十五分钟服务圈") -> folium.Map:
    """areas: code, name, households, share (0–1); circles: name, geometry; uncovered: address, households."""
    m = base_map(title)
    scale = cm.LinearColormap(["#d7301f", "#fdcc8a", "#1a9850"], vmin=0, vmax=1,
                              caption=f"share of households within {minutes:g} min walk")
    frame = areas[["code", "name", "households", "share", "geometry"]].copy()
    frame["geometry"] = _light(frame.geometry.values, 3.0)
    frame["pct"] = (frame["share"].fillna(0) * 100).round(1)
    shares = folium.FeatureGroup(name=f"覆盖率 share within {minutes:g} min", show=True)
    folium.GeoJson(frame.drop(columns="share").__geo_interface__,
                   style_function=lambda f: {"color": "#555", "weight": 1, "fillOpacity": 0.55,
                                             "fillColor": scale(f["properties"]["pct"] / 100)},
                   tooltip=folium.GeoJsonTooltip(fields=["name", "code", "households", "pct"],
                                                 aliases=["名称", "编码", "户数", "覆盖率 %"])).add_to(shares)
    shares.add_to(m)
    if len(circles):
        ring = folium.FeatureGroup(name=f"服务圈 {minutes:g}-min circles ({len(circles)})", show=True)
        c = circles.copy()
        c["geometry"] = _light(c.geometry.values, 2.0)
        folium.GeoJson(c.__geo_interface__, style_function=lambda f: {
            "color": "#1565c0", "weight": 1, "fillColor": "#1565c0", "fillOpacity": 0.12}).add_to(ring)
        ring.add_to(m)
    if len(uncovered):
        group = folium.FeatureGroup(name=f"未覆盖楼栋 uncovered buildings ({len(uncovered):,})", show=True)
        folium.GeoJson(uncovered[["address", "households", "geometry"]].__geo_interface__,
                       marker=folium.CircleMarker(radius=3, color="#b71c1c", fill=True, fill_opacity=0.8, weight=0),
                       tooltip=folium.GeoJsonTooltip(fields=["address", "households"], aliases=["地址", "户数"])
                       ).add_to(group)
        group.add_to(m)
    add_stations(m, stations)
    if stations is not None and len(stations):
        legend(m, "服务站 stations", kind_legend(stations["kind"]))
    scale.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, areas)
    return m
