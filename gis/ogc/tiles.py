"""OGC API – Tiles documents for the vector tiles (gis.tiles): the tilesets of a collection, one
tileset's metadata, the WebMercatorQuad tile matrix set, and a TileJSON for MapLibre."""
from __future__ import annotations

import math

from gis.ogc.collections import JSON, Collection
from gis.tiles import MAX_ZOOM

MVT = "application/vnd.mapbox-vector-tile"
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
HALF = math.pi * 6378137.0  # half the equator in metres: the pyramid spans -HALF..HALF both ways
PIXEL_M = 0.28e-3  # the standardised rendering pixel (OGC 2D TMS)


def tile_matrix_set(base: str) -> dict:
    """The WebMercatorQuad definition (OGC 2D Tile Matrix Set 2.0 JSON), levels 0..MAX_ZOOM."""
    matrices = []
    for z in range(MAX_ZOOM + 1):
        n = 2 ** z
        res = 2 * HALF / (256 * n)
        matrices.append({"id": str(z), "scaleDenominator": res / PIXEL_M, "cellSize": res,
                         "cornerOfOrigin": "topLeft", "pointOfOrigin": [-HALF, HALF],
                         "tileWidth": 256, "tileHeight": 256, "matrixWidth": n, "matrixHeight": n})
    return {"id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
            "crs": WEB_MERCATOR, "orderedAxes": ["E", "N"], "wellKnownScaleSet":
            "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible", "tileMatrices": matrices,
            "links": [{"rel": "self", "type": JSON, "href": f"{base}/ogc/tileMatrixSets/{TMS_ID}"}]}


def tile_matrix_sets(base: str) -> dict:
    """The list of tile matrix sets offered (one)."""
    return {"tileMatrixSets": [{"id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
                                "links": [{"rel": "self", "type": JSON,
                                           "href": f"{base}/ogc/tileMatrixSets/{TMS_ID}"}]}]}


def _template(base: str, c: Collection, suffix: str) -> str:
    return f"{base}/ogc/collections/{c.id}/tiles/{TMS_ID}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{suffix}"


def tileset(base: str, c: Collection, bbox: list[float] | None, suffix: str = "") -> dict:
    """One tileset's metadata: vector data in WebMercatorQuad, the tile URL template, its layer."""
    href = f"{base}/ogc/collections/{c.id}/tiles/{TMS_ID}"
    doc = {
        "title": f"{c.title} vector tiles", "dataType": "vector", "crs": WEB_MERCATOR,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"rel": "self", "type": JSON, "href": href},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON,
             "href": f"{base}/ogc/tileMatrixSets/{TMS_ID}"},
            {"rel": "item", "type": MVT, "templated": True, "href": _template(base, c, suffix)},
            {"rel": "alternate", "type": JSON, "title": "TileJSON", "href": f"{href}/tilejson.json"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/geodata", "type": JSON,
             "href": f"{base}/ogc/collections/{c.id}"},
        ],
        "layers": [{"id": c.level, "dataType": "vector", "geometryType": "polygons",
                    "propertiesSchema": {"type": "object", "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"},
                        "households": {"type": "integer"}, "parent_code": {"type": "string"}}}}],
    }
    if bbox is not None:
        doc["boundingBox"] = {"lowerLeft": bbox[:2], "upperRight": bbox[2:],
                              "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    return doc


def tilesets(base: str, c: Collection, suffix: str = "") -> dict:
    """The tilesets of a collection (one: WebMercatorQuad)."""
    href = f"{base}/ogc/collections/{c.id}/tiles"
    return {"links": [{"rel": "self", "type": JSON, "href": href}],
            "tilesets": [{"title": f"{c.title} vector tiles", "dataType": "vector", "crs": WEB_MERCATOR,
                          "tileMatrixSetURI": TMS_URI,
                          "links": [{"rel": "self", "type": JSON, "href": f"{href}/{TMS_ID}"},
                                    {"rel": "item", "type": MVT, "templated": True,
                                     "href": _template(base, c, suffix)}]}]}


def tilejson(base: str, c: Collection, bbox: list[float] | None, suffix: str = "") -> dict:
    """TileJSON 3.0.0 for MapLibre and QGIS: the {z}/{y}/{x} URL, zooms, bounds and the layer."""
    url = f"{base}/ogc/collections/{c.id}/tiles/{TMS_ID}/{{z}}/{{y}}/{{x}}{suffix}"
    doc = {"tilejson": "3.0.0", "name": c.id, "description": c.title, "scheme": "xyz", "tiles": [url],
           "minzoom": 0, "maxzoom": MAX_ZOOM,
           "vector_layers": [{"id": c.level, "fields": {"code": "String", "name": "String",
                                                        "households": "Number", "parent_code": "String"}}]}
    if bbox is not None:
        doc["bounds"] = bbox
        doc["center"] = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, 12]
    return doc
