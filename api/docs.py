"""Offline API documentation: Swagger UI at /docs and ReDoc at /redoc from assets vendored in
api/static/docs (see its README), so the pages render on an intranet with no internet."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

ASSET_DIR = Path(__file__).parent / "static" / "docs"
ASSET_PREFIX = "/docs/assets"
# the only files served: name → media type (nothing else under the folder is reachable)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
}
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _url(request: Request, path: str) -> str:
    """`path` under the app's root path, so the pages also work behind a reverse proxy's prefix."""
    return request.scope.get("root_path", "").rstrip("/") + path


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for /openapi.json, every script and style sheet from this service."""
    return get_swagger_ui_html(
        openapi_url=_url(request, request.app.openapi_url), title=f"{request.app.title} – API",
        swagger_js_url=_url(request, f"{ASSET_PREFIX}/swagger-ui-bundle.js"),
        swagger_css_url=_url(request, f"{ASSET_PREFIX}/swagger-ui.css"),
        swagger_favicon_url=_url(request, f"{ASSET_PREFIX}/favicon-32x32.png"),
        oauth2_redirect_url=_url(request, OAUTH2_REDIRECT),
        # no outside validator badge: the spec is never sent anywhere
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (inline script only)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for /openapi.json from the vendored standalone bundle, without Google Fonts."""
    return get_redoc_html(
        openapi_url=_url(request, request.app.openapi_url), title=f"{request.app.title} – API reference",
        redoc_js_url=_url(request, f"{ASSET_PREFIX}/redoc.standalone.js"),
        redoc_favicon_url=_url(request, f"{ASSET_PREFIX}/favicon-32x32.png"), with_google_fonts=False)


@router.get(ASSET_PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    """One vendored file by name (a fixed list: no path from the URL ever reaches the file system)."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(404, f"no documentation asset named {name!r}")
    return FileResponse(ASSET_DIR / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"})
