"""Command-center maps: the request heatmap with a time slider, Gi* hotspots over grids, overdue
requests by colour, and the monthly grid ranking. Builders take plain frames; `maps.pages` fetches."""
from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from folium.plugins import HeatMapWithTime

from maps.grids import _light, base_map, fit

CLASS_COLOURS = {"hot_99": "#b2182b", "hot_95": "#ef8a62", "hot_90": "#fddbc7", "none": "#f7f7f7",
                 "cold_90": "#d1e5f0", "cold_95": "#67a9cf", "cold_99": "#2166ac"}
CLASS_LABELS = {"hot_99": "热点 99 %", "hot_95": "热点 95 %", "hot_90": "热点 90 %", "none": "不显著",
                "cold_90": "冷点 90 %", "cold_95": "冷点 95 %", "cold_99": "冷点 99 %"}
URGENCY_COLOURS = {"red": "#d32f2f", "orange": "#f57c00", "yellow": "#fbc02d", "blue": "#1976d2"}
URGENCY_LABELS = {"red": "红 重要紧急", "orange": "橙 紧急", "yellow": "黄 重要", "blue": "蓝 一般"}


def legend(m: folium.Map, title: str, items: dict[str, str]) -> None:
    """A fixed legend box (plain HTML: no outside asset)."""
    rows = "".join(f'<div><i style="display:inline-block;width:14px;height:10px;margin-right:6px;'
                   f'background:{c};border:1px solid #777"></i>{label}</div>' for label, c in items.items())
    m.get_root().html.add_child(folium.Element(
        f'<div class="wangge-legend" style="position:fixed;bottom:24px;left:12px;z-index:9999;background:#fff;'
        f'padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px sans-serif">'
        f'<b>{title}</b>{rows}</div>'))


def outlines(m: folium.Map, areas: gpd.GeoDataFrame, name: str, tol_m: float = 3.0, colour: str = "#37474f") -> None:
    """Thin, unfilled outlines for context (communities, say), in one toggleable layer."""
    frame = gpd.GeoDataFrame({"name": areas["name"].to_numpy()}, geometry=_light(areas.geometry.values, tol_m), crs=4326)
    group = folium.FeatureGroup(name=name, show=True)
    folium.GeoJson(frame.__geo_interface__, style_function=lambda f: {"color": colour, "weight": 1, "fill": False},
                   ).add_to(group)
    group.add_to(m)


def heatmap_map(points: pd.DataFrame, context: gpd.GeoDataFrame, title: str, frame_cap: int = 5_000,
                seed: int = 0) -> folium.Map:
    """points: lon, lat, frame (label, e.g. a day). One heat layer per frame under a time slider;
    each frame keeps at most `frame_cap` points (a uniform sample: the density it shows is the same)."""
    m = base_map(title)
    # heatmap.js reads its canvas back on every frame: ask for a CPU-backed 2D context up front, which
    # is faster for that and stops Chromium's "multiple readback operations" console warning
    m.get_root().header.add_child(folium.Element(
        "<script>(function(){var g=HTMLCanvasElement.prototype.getContext;"
        "HTMLCanvasElement.prototype.getContext=function(t,o){if(t==='2d'){o=Object.assign("
        "{willReadFrequently:true},o||{});}return g.call(this,t,o);};})();</script>"))
    outlines(m, context, f"社区 communities ({len(context):,})")
    rng = np.random.default_rng(seed)
    labels = sorted(points["frame"].unique().tolist()) if len(points) else []
    data = []
    for lab in labels:
        sub = points[points["frame"] == lab]
        if len(sub) > frame_cap:
            sub = sub.iloc[np.sort(rng.choice(len(sub), frame_cap, replace=False))]
        data.append(np.round(sub[["lat", "lon"]].to_numpy(), 5).tolist())
    HeatMapWithTime(data, index=labels, name=f"请求热力 requests ({len(points):,})", radius=12,
                    auto_play=False, max_opacity=0.8, min_opacity=0.1, use_local_extrema=False,
                    position="bottomright").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, context)
    return m


def hotspot_map(grids: gpd.GeoDataFrame, context: gpd.GeoDataFrame, title: str) -> folium.Map:
    """grids: code, name, count, previous, trend, z, class. Coloured by Gi* class (FDR)."""
    m = base_map(title)
    frame = grids[["code", "name", "count", "previous", "trend", "z", "class"]].copy()
    frame["label"] = frame["class"].map(CLASS_LABELS)
    frame = gpd.GeoDataFrame(frame, geometry=_light(grids.geometry.values, 1.5), crs=4326)
    group = folium.FeatureGroup(name=f"Gi* 热点 hotspots ({(frame['class'] != 'none').sum():,} significant)", show=True)
    folium.GeoJson(frame.__geo_interface__,
                   style_function=lambda f: {"color": "#666", "weight": 0.5, "fillOpacity": 0.75,
                                             "fillColor": CLASS_COLOURS.get(f["properties"]["class"], "#f7f7f7")},
                   tooltip=folium.GeoJsonTooltip(fields=["name", "code", "count", "previous", "trend", "z", "label"],
                                                 aliases=["网格", "编码", "本期", "上期", "趋势", "Gi* z", "类别"]),
                   ).add_to(group)
    group.add_to(m)
    outlines(m, context, f"社区 communities ({len(context):,})")
    legend(m, "Gi* 热点 (FDR)", {CLASS_LABELS[k]: v for k, v in CLASS_COLOURS.items()})
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, grids)
    return m


def overdue_map(requests: gpd.GeoDataFrame, context: gpd.GeoDataFrame, title: str) -> folium.Map:
    """requests: id, category, status, grid, colour, overdue_h, geometry. One layer per colour."""
    m = base_map(title)
    outlines(m, context, f"社区 communities ({len(context):,})")
    for colour, hexcode in URGENCY_COLOURS.items():
        sub = requests[requests["colour"] == colour]
        group = folium.FeatureGroup(name=f"{URGENCY_LABELS[colour]} ({len(sub):,})", show=True)
        if len(sub):
            folium.GeoJson(sub[["id", "category", "status", "grid", "overdue_h", "geometry"]].__geo_interface__,
                           marker=folium.CircleMarker(radius=4, color=hexcode, fill=True, fill_color=hexcode,
                                                      fill_opacity=0.85, weight=1),
                           tooltip=folium.GeoJsonTooltip(fields=["id", "category", "status", "grid", "overdue_h"],
                                                         aliases=["编号", "类别", "状态", "网格", "超期小时"]),
                           ).add_to(group)
        group.add_to(m)
    legend(m, f"超期未办结 overdue ({len(requests):,})", {URGENCY_LABELS[k]: v for k, v in URGENCY_COLOURS.items()})
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, context)
    return m


def ranking_map(grids: gpd.GeoDataFrame, lowest: list[str], title: str) -> folium.Map:
    """grids: code, name, rank, score, volume, on_time_rate, satisfaction, repeat_rate; the lowest
    (named) grids drawn with a thick outline in their own layer."""
    import branca.colormap as cm

    m = base_map(title)
    scores = grids["score"].astype(float)
    lo, hi = (float(np.nanmin(scores)), float(np.nanmax(scores))) if scores.notna().any() else (0.0, 100.0)
    scale = cm.LinearColormap(["#d73027", "#fee08b", "#1a9850"], vmin=lo, vmax=max(hi, lo + 1e-6),
                              caption="score 得分")
    frame = grids[["code", "name", "rank", "score", "volume", "on_time_rate", "satisfaction", "repeat_rate"]].copy()
    frame["fill"] = [scale(s) if pd.notna(s) else "#bdbdbd" for s in scores]
    frame = frame.astype({"rank": "object", "score": "object"}).where(frame.notna(), None)
    frame = gpd.GeoDataFrame(frame, geometry=_light(grids.geometry.values, 1.5), crs=4326)
    group = folium.FeatureGroup(name=f"排名 ranking ({frame['rank'].notna().sum():,} ranked)", show=True)
    folium.GeoJson(frame.__geo_interface__,
                   style_function=lambda f: {"color": "#666", "weight": 0.5, "fillOpacity": 0.7,
                                             "fillColor": f["properties"]["fill"]},
                   tooltip=folium.GeoJsonTooltip(
                       fields=["name", "code", "rank", "score", "volume", "on_time_rate", "satisfaction", "repeat_rate"],
                       aliases=["网格", "编码", "名次", "得分", "件数", "按时率", "满意度", "重复率"]),
                   ).add_to(group)
    group.add_to(m)
    low = frame[frame["code"].isin(lowest)]
    named = folium.FeatureGroup(name=f"后两名 lowest two ({', '.join(low['name'])})", show=True)
    if len(low):
        folium.GeoJson(low[["name", "code", "rank", "geometry"]].__geo_interface__,
                       style_function=lambda f: {"color": "#000", "weight": 4, "fill": False, "dashArray": "6 4"},
                       tooltip=folium.GeoJsonTooltip(fields=["name", "code", "rank"], aliases=["网格", "编码", "名次"]),
                       ).add_to(named)
    named.add_to(m)
    scale.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, grids)
    return m
