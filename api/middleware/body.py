"""Body caps before work: 413 from Content-Length, or as soon as a streamed (chunked) body passes the cap.

JSON and other bodies: `WANGGE_MAX_BODY_MB`; multipart uploads: `WANGGE_MAX_UPLOAD_MB`."""
from __future__ import annotations

from starlette.datastructures import Headers

from api.middleware.answer import send_json, settings_of

MB = 1024 * 1024


def cap_for(headers: Headers, settings) -> tuple[int, str, str]:
    """The byte cap for a request, the setting that sets it and what kind of body it is."""
    if headers.get("content-type", "").lower().startswith("multipart/"):
        return int(settings.max_upload_mb * MB), "WANGGE_MAX_UPLOAD_MB", "uploads"
    return int(settings.max_body_mb * MB), "WANGGE_MAX_BODY_MB", "request bodies"


def _mb(n: float) -> str:
    return f"{n / MB:.4g} MB"


class BodyLimit:
    """Refuse a body over its cap with 413 without reading it whole (pure ASGI, so bodies stream)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        """Check Content-Length first; without one, count the streamed bytes as they arrive."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        cap, setting, kind = cap_for(headers, settings_of(scope["app"]))
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await send_json(send, 400, "Content-Length: not a whole number of bytes")
            if int(length) > cap:
                return await send_json(send, 413, f"the body is {_mb(int(length))}; {kind} may be at most "
                                                  f"{_mb(cap)} ({setting})", field="body")
            return await self.app(scope, receive, send)
        if headers.get("transfer-encoding") is None:
            return await self.app(scope, receive, send)
        await _Streamed(self.app, cap, f"the body passed {_mb(cap)}; {kind} may be at most {_mb(cap)} "
                                       f"({setting})")(scope, receive, send)


class _Streamed:
    """One chunked request: count bytes; past the cap answer 413 and tell the app the client left."""

    def __init__(self, app, cap: int, message: str):
        self.app, self.cap, self.message = app, cap, message
        self.seen = 0
        self.started = self.refused = False

    async def __call__(self, scope, receive, send):
        async def counted():
            if self.refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                self.seen += len(msg.get("body", b""))
                if self.seen > self.cap:
                    self.refused = True
                    if not self.started:
                        self.started = True
                        await send_json(send, 413, self.message, field="body")
                    return {"type": "http.disconnect"}
            return msg

        async def guarded(msg):
            if self.refused:
                return  # the 413 is the answer; whatever the app says after is dropped
            if msg["type"] == "http.response.start":
                self.started = True
            await send(msg)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not self.refused:
                raise  # a real failure; only the app's reaction to the cut body is swallowed
