"""The one place a key may come in a body: Open311 POSTs (GeoReport v2 puts `api_key` in the form).

The body is capped (`WANGGE_OPEN311_MAX_BODY_KB`) before it is read — 413 from Content-Length or as soon
as the streamed bytes pass the cap — then parsed for `api_key` and handed on to the route unchanged.
Refusals on /open311 are Open311 error arrays (JSON, or XML for a `.xml` route)."""
from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import Headers

PREFIX = "/open311/"
KB = 1024


def open311_keyed(path: str) -> bool:
    """Whether an Open311 path needs a key: the request routes (discovery and the menu are public)."""
    return path.startswith(PREFIX) and "/requests" in path


class BodyRefused(Exception):
    """A form body the gate will not read: `status` and plain words."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


async def form_key(scope, receive, cap_kb: float):
    """(`api_key` from a form-encoded body or None, a receive that replays the body to the app)."""
    headers = Headers(scope=scope)
    cap = int(cap_kb * KB)
    length = headers.get("content-length")
    if length is not None and (not length.strip().isdigit() or int(length) > cap):
        raise BodyRefused(413, f"body: an Open311 request may be at most {cap_kb:g} KB "
                               f"(WANGGE_OPEN311_MAX_BODY_KB)")
    chunks, seen, more = [], 0, True
    while more:
        msg = await receive()
        if msg["type"] != "http.request":
            break
        chunk = msg.get("body", b"")
        seen += len(chunk)
        if seen > cap:
            raise BodyRefused(413, f"body: an Open311 request may be at most {cap_kb:g} KB "
                                   f"(WANGGE_OPEN311_MAX_BODY_KB)")
        chunks.append(chunk)
        more = msg.get("more_body", False)
    body = b"".join(chunks)
    key = None
    if headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        for k, v in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if k == "api_key":
                key = v
                break
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return key, replay


async def send_open311(send, status: int, description: str, path: str, headers: dict | None = None) -> None:
    """An Open311 error array, XML for a `.xml` route, else JSON; the connection closes."""
    import json

    from gis.command.open311 import to_xml

    errors = [{"code": status, "description": description}]
    if path.endswith(".xml"):
        body, ctype = to_xml("errors", errors).encode("utf-8"), b"text/xml; charset=utf-8"
    else:
        body, ctype = json.dumps(errors, ensure_ascii=False).encode("utf-8"), b"application/json"
    raw = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
