"""What the middleware share: a small JSON answer sent straight from ASGI, and the app's settings."""
from __future__ import annotations

import json


async def send_json(send, status: int, detail: str, headers: dict[str, str] | None = None,
                    field: str | None = None) -> None:
    """Send the one error shape (`detail`, `errors` naming `field`) with `status`; the connection closes so
    an unread body is not waited for."""
    from api.errors import error_body

    body = json.dumps(error_body(detail, field), ensure_ascii=False).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def settings_of(app):
    """The app's settings (set in its lifespan), or the environment's when the lifespan has not run."""
    settings = getattr(app.state, "settings", None)
    if settings is None:
        from gis.settings import get_settings

        settings = get_settings()
    return settings
