"""The hierarchy map: districts, streets, communities, grids and units of one generation, and stations."""
from __future__ import annotations

import json

import folium
import geopandas as gpd
import numpy as np
import shapely
from folium.template import Template

from gis.planar import degrees
from gis.vocab import STATION_KINDS

# Per level: outline style, simplification tolerance in metres, and whether the layer starts visible.
STYLE = {
    "district": dict(color="#7a0019", weight=4, fill=False, tol_m=8.0, show=True),
    "street": dict(color="#b35900", weight=3, fill=False, tol_m=5.0, show=True),
    "community": dict(color="#1b5e20", weight=2, fill=False, tol_m=3.0, show=True),
    "grid": dict(color="#455a64", weight=1, fill=True, tol_m=1.5, show=True),
    "unit": dict(color="#9e9e9e", weight=0.5, fill=False, tol_m=0.5, show=False),
}
LABEL = {"district": "区县 district", "street": "街道 street", "community": "社区 community",
         "grid": "网格 grid", "unit": "十联户 unit"}
PASTEL = ["#fbb4ae", "#b3cde3", "#ccebc5", "#decbe4", "#fed9a6", "#ffffcc", "#e5d8bd", "#fddaec", "#f2f2f2"]
KIND_COLOUR = {"party_service_center": "#c62828", "convenience_station": "#1565c0", "red_post": "#ad1457"}
OTHER_KIND_COLOUR = "#333333"  # any other kind (kinds are free text), drawn and listed in a neutral colour


def touching_colours(codes, geoms, palette=PASTEL) -> list[str]:
    """A fill colour per area such that areas that touch never share one, the same in every process:
    greedy colouring of the touching graph (shapely STRtree) in code order, each area taking the first
    palette colour its already-coloured neighbours lack (past the palette, further generated colours)."""
    codes = np.asarray(codes, dtype=object)
    n = len(codes)
    if n == 0:
        return []
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    o = np.lexsort((b, a))
    a, b = a[o], b[o]
    start = np.searchsorted(a, np.arange(n + 1))
    order = sorted(range(n), key=lambda i: codes[i].encode("utf-8"))  # code-point (C collation) order
    colour = np.full(n, -1, dtype=np.int64)
    for i in order:
        used = set(colour[b[start[i]:start[i + 1]]].tolist())
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return [palette[c] if c < len(palette) else _extra_colour(c - len(palette)) for c in colour.tolist()]


def _extra_colour(k: int) -> str:
    """The k-th colour beyond the palette: light hues spread by the golden angle (deterministic)."""
    import colorsys

    r, g, b = colorsys.hls_to_rgb((k * 0.381966) % 1.0, 0.82, 0.55)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _light(geoms: np.ndarray, tol_m: float) -> np.ndarray:
    """Simplified (topology kept) and rounded to ~1 cm, so city-scale pages stay small."""
    g = shapely.simplify(geoms, degrees(tol_m), preserve_topology=True)
    return shapely.set_precision(g, 1e-7)


def page_head(m, title: str) -> None:
    """The page's title, a plain background, and, when the page (the map and its layers, built by
    inline scripts) has loaded, how long it took on <body data-loaded-ms> for benchmarks and monitoring."""
    m.get_root().header.add_child(folium.Element(
        f"<title>{title}</title><style>.leaflet-container{{background:#f4f1ea}}</style>"
        "<script>addEventListener('load',function(){document.body.dataset.loadedMs="
        "Math.round(performance.now());});</script>"))


def fit(m, frame, default=(116.9, 36.6, 117.1, 36.7)) -> None:
    """Open the map on the frame's extent (a default one for an empty frame)."""
    xmin, ymin, xmax, ymax = frame.total_bounds if frame is not None and len(frame) else default
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])


def base_map(title: str) -> folium.Map:
    """An empty page: no tile layer (intranets have none), a plain background, the title."""
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    page_head(m, title)
    return m


def add_stations(m: folium.Map, stations: gpd.GeoDataFrame | None) -> None:
    """Stations as circle markers coloured by kind, in one toggleable layer."""
    if stations is None or not len(stations):
        return
    group = folium.FeatureGroup(name=f"服务站 stations ({len(stations)})", show=True)
    for name, kind, pt in zip(stations["name"], stations["kind"], stations.geometry):
        label, colour = STATION_KINDS.get(kind, kind), KIND_COLOUR.get(kind, OTHER_KIND_COLOUR)
        folium.CircleMarker([pt.y, pt.x], radius=5, color=colour, fill=True, fill_opacity=0.9,
                            tooltip=f"{name}（{label}）").add_to(group)
    group.add_to(m)


UNIT_TILE_MIN_ZOOM = 14  # vector-tile units are drawn from this zoom (a z14 tile holds ~3,000 city units)

# On a click, the unit under the pointer from the features VectorGrid keeps per tile (getFeatureId
# stores them): a point-in-polygon test on the tile's rings, then a popup. Done on the map's click
# (which fires whatever layer was clicked) instead of VectorGrid's own `interactive`, whose canvas
# click handler calls L.DomEvent.fakeStop, gone in Leaflet 1.9, and whose SVG tiles would be ~3,000
# DOM paths a tile; the unit pane ignores the pointer, so grid and station tooltips keep working.
_UNIT_CLICK = """
{% macro script(this, kwargs) %}
(function (vg, map) {
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function inside(parts, q) {
    var hit = false;
    for (var i = 0; i < parts.length; i++) {
      var r = parts[i];
      for (var j = 0, k = r.length - 1; j < r.length; k = j++) {
        if (((r[j].y > q.y) !== (r[k].y > q.y)) &&
            (q.x < (r[k].x - r[j].x) * (q.y - r[j].y) / (r[k].y - r[j].y) + r[j].x)) { hit = !hit; }
      }
    }
    return hit;
  }
  map.on('click', function (e) {
    if (!map.hasLayer(vg) || vg._tileZoom === undefined || !vg._vectorTiles) { return; }
    var z = vg._tileZoom, size = vg.getTileSize(), p = map.project(e.latlng, z);
    var c = p.unscaleBy(size).floor(); c.z = z;
    var tile = vg._vectorTiles[vg._tileCoordsToKey(c)];
    if (!tile || !tile._features) { return; }
    var q = p.subtract(c.scaleBy(size));
    for (var id in tile._features) {
      var f = tile._features[id].feature;
      if (f._parts && inside(f._parts, q)) {
        var a = f.properties;
        L.popup().setLatLng(e.latlng).setContent(
          '<b>' + esc(a.name) + '</b><br>编码 ' + esc(a.code) + '<br>户数 ' + esc(a.households) +
          (a.parent_code ? '<br>网格 ' + esc(a.parent_code) : '')).openOn(map);
        return;
      }
    }
  });
})({{ this.layer.get_name() }}, {{ this.map.get_name() }});
{% endmacro %}
"""


class _UnitClick(folium.MacroElement):
    _template = Template(_UNIT_CLICK)

    def __init__(self, layer, m: folium.Map):
        super().__init__()
        self._name = "UnitClick"
        self.layer, self.map = layer, m


def add_unit_tiles(m: folium.Map, tile_url: str, name: str, level: str = "unit") -> None:
    """`level`'s areas as Mapbox vector tiles from `tile_url` (a /tiles/LEVEL/{z}/{x}/{y}.pbf template),
    drawn by Leaflet.VectorGrid on canvas from UNIT_TILE_MIN_ZOOM, in a pane above the grid fills that
    ignores the pointer; hidden at first; a click shows the unit's name, code and households."""
    from folium.plugins import VectorGridProtobuf

    style = STYLE[level]
    folium.map.CustomPane("vector-units", z_index=450, pointer_events=False).add_to(m)
    options = (
        "{rendererFactory: L.canvas.tile, pane: 'vector-units', minZoom: %d, "
        "getFeatureId: function (f) { return f.properties.code; }, "
        "vectorTileLayerStyles: {%s: %s}}"
        % (UNIT_TILE_MIN_ZOOM, json.dumps(level),
           json.dumps({"color": style["color"], "weight": style["weight"], "opacity": 0.9, "fill": False})))
    layer = VectorGridProtobuf(tile_url, name=name, options=options, overlay=True, show=style["show"])
    layer.add_to(m)
    _UnitClick(layer, m).add_to(m)


def grids_map(areas: gpd.GeoDataFrame, stations: gpd.GeoDataFrame | None = None, title: str = "网格 Wangge",
              unit_limit: int = 20_000, tile_url: str | None = None) -> folium.Map:
    """A folium map with one toggleable layer per level present, tooltips, stations; no tile layer
    (intranets have none), so the page needs nothing but the service's own assets.
    More than `unit_limit` units are not written into the page: with `tile_url` (the service's
    /tiles/unit/{z}/{x}/{y}.pbf?generation=N&api_key=KEY template) they are drawn from vector tiles
    when zoomed in; without it (a standalone file, say) the layer only says there are too many."""
    m = base_map(title)
    for level, style in STYLE.items():
        sub = areas[areas["level"] == level]
        if sub.empty:
            continue
        name = f"{LABEL[level]} ({len(sub):,})"
        if level == "unit" and len(sub) > unit_limit:
            if tile_url:
                add_unit_tiles(m, tile_url, f"{LABEL[level]} ({len(sub):,}, vector tiles)", level)
            else:
                folium.FeatureGroup(name=f"{name}: too many to draw here, zoom into a grid", show=False).add_to(m)
            continue
        frame = gpd.GeoDataFrame({
            "code": sub["code"].to_numpy(), "name": sub["name"].to_numpy(),
            "households": sub["households"].astype(int).to_numpy(),
            "fill": touching_colours(sub["code"].to_numpy(), sub.geometry.values) if style["fill"] else "#ffffff",
        }, geometry=_light(sub.geometry.values, style["tol_m"]), crs=4326)
        group = folium.FeatureGroup(name=name, show=style["show"])
        folium.GeoJson(
            frame.__geo_interface__,
            style_function=lambda f, s=style: {
                "color": s["color"], "weight": s["weight"], "fill": s["fill"],
                "fillColor": f["properties"]["fill"], "fillOpacity": 0.45 if s["fill"] else 0},
            tooltip=folium.GeoJsonTooltip(fields=["name", "code", "households"], aliases=["名称", "编码", "户数"]),
            smooth_factor=1.0,
        ).add_to(group)
        group.add_to(m)
    add_stations(m, stations)
    folium.LayerControl(collapsed=False).add_to(m)
    fit(m, areas)
    return m
