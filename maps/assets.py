"""Offline map assets: every script and style sheet folium would fetch from a CDN is vendored in
maps/static (see its README) and served by the app at ASSET_PREFIX, so pages render on intranets."""
from __future__ import annotations

import re
from pathlib import Path

import folium


ASSET_PREFIX = "/static/maps"
STATIC_DIR = Path(__file__).parent / "static"

# CDN URL → file under maps/static; None = left out on purpose (Bootstrap 3 glyphicons and the
# awesome-marker rotation rules are only used by icon markers, which our maps do not draw).
LOCAL = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "awesome-markers/leaflet.awesome-markers.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "awesome-markers/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": None,
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": None,
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js":
        "folium/leaflet_heat.min.js",
    "https://cdn.jsdelivr.net/npm/iso8601-js-period@0.2.1/iso8601.min.js": "timedimension/iso8601.js",
    "https://cdn.jsdelivr.net/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.min.js":
        "timedimension/leaflet.timedimension.min.js",
    "https://cdn.jsdelivr.net/npm/leaflet-timedimension@1.1.1/dist/leaflet.timedimension.control.css":
        "timedimension/leaflet.timedimension.control.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/pa7_hm.min.js": "folium/pa7_hm.min.js",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/pa7_leaflet_hm.min.js":
        "folium/pa7_leaflet_hm.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "markercluster/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "markercluster/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "markercluster/MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": "fullscreen/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": "fullscreen/Control.FullScreen.css",
    "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js": "d3/d3.min.js",  # branca colour scales
    "https://cdn.jsdelivr.net/gh/jieter/Leaflet.Sync/L.Map.Sync.min.js": "sync/L.Map.Sync.js",  # DualMap
    # folium.plugins.VectorGridProtobuf asks for @latest; we serve 1.3.0, the newest release (unit tiles)
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js":
        "vectorgrid/Leaflet.VectorGrid.bundled.min.js",
}

_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


class ExternalAsset(RuntimeError):
    """A page would load something from outside the service."""


def local_url(url: str, prefix: str = ASSET_PREFIX) -> str | None:
    """The local URL for a CDN asset; KeyError naming the URL when it is not vendored yet."""
    if url.startswith(prefix):
        return url
    try:
        path = LOCAL[url]
    except KeyError:
        raise KeyError(f"map asset not vendored in maps/static: {url}") from None
    return None if path is None else f"{prefix}/{path}"


def _localize_element(el, prefix: str) -> None:
    for attr in ("default_js", "default_css"):
        links = getattr(el, attr, None)
        if links:
            rewritten = [(name, local_url(url, prefix)) for name, url in links]
            setattr(el, attr, [(n, u) for n, u in rewritten if u is not None])
    for child in list(getattr(el, "_children", {}).values()):
        _localize_element(child, prefix)


def render(m: folium.Map, prefix: str = ASSET_PREFIX) -> str:
    """The whole HTML page with every asset served locally; refuses to return a page with a remote one.
    Elements' default_js/css are rewritten first; links that branca adds while rendering (colour scales)
    are rewritten in the page itself."""
    _localize_element(m, prefix)
    html = m.get_root().render()
    for url, path in LOCAL.items():
        if url in html:
            if path is None:
                html = re.sub(r"<(script|link)[^>]*" + re.escape(url) + r"[^>]*>(</script>)?", "", html)
            else:
                html = html.replace(url, f"{prefix}/{path}")
    found = _EXTERNAL.search(html)
    if found:
        raise ExternalAsset(f"map page still references a remote asset near {html[found.start():found.end() + 60]!r}")
    return html


def mount_static(app) -> None:
    """Serve maps/static at ASSET_PREFIX on a FastAPI app."""
    from fastapi.staticfiles import StaticFiles

    app.mount(ASSET_PREFIX, StaticFiles(directory=STATIC_DIR), name="maps-static")


_SCRIPT = re.compile(r'<script[^>]*\ssrc="' + re.escape(ASSET_PREFIX) + r'/([^"]+)"[^>]*>\s*</script>')
_LINK = re.compile(r'<link[^>]*\shref="' + re.escape(ASSET_PREFIX) + r'/([^"]+)"[^>]*/?>')
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
_MIME = {".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject",
         ".svg": "image/svg+xml", ".png": "image/png", ".gif": "image/gif", ".cur": "image/x-icon"}


def _css_inline(path: Path) -> str:
    """A style sheet with every url() it references turned into a data: URI (fonts, images)."""
    import base64

    css = path.read_text(encoding="utf-8")

    def data_uri(m: re.Match) -> str:
        ref = m.group(1).split("?")[0].split("#")[0]
        if ref.startswith(("data:", "http:", "https:", "//")):
            return m.group(0)
        target = (path.parent / ref).resolve()
        if not target.is_file() or STATIC_DIR.resolve() not in target.parents:
            return "url()"  # a file not vendored (an old IE format, say): dropped, never fetched
        mime = _MIME.get(target.suffix.lower(), "application/octet-stream")
        return f"url(data:{mime};base64,{base64.b64encode(target.read_bytes()).decode()})"

    return _CSS_URL.sub(data_uri, css)


def inline(html: str) -> str:
    """A rendered page made standalone: local scripts and style sheets written into the page (their
    fonts and images as data: URIs), so the file opens from disk with no server and no internet."""
    def script(m: re.Match) -> str:
        body = (STATIC_DIR / m.group(1)).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{body}</script>"

    def link(m: re.Match) -> str:
        return f"<style>{_css_inline(STATIC_DIR / m.group(1))}</style>"

    html = _SCRIPT.sub(script, html)
    html = _LINK.sub(link, html)
    left = re.search(r'(?:src|href)="' + re.escape(ASSET_PREFIX), html)
    if left:
        raise ExternalAsset(f"page still links a service asset near {html[left.start():left.start() + 80]!r}")
    return html
