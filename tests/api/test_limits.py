"""Limits before work: the key is checked before a body is read, bodies and uploads over their caps get
413 without being read whole (by Content-Length, or as a chunked body streams past the cap), zipped
uploads are capped before extraction, and no error shows a server path or a library's message."""
from __future__ import annotations

import io
import json
import socket
import threading
import time
import zipfile
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis import keys
from gis.importers.common import ImportRefused, read_frame
from gis.settings import Settings
from gis.store.db import session_scope
from tests.areas_factory import write_generation
from tests.locate.test_api_locate import hierarchy

COMM = "370102001001"


def make_keys(engine, roles=("consumer", "command", "planner", "admin")) -> dict:
    """One fresh key per role."""
    with session_scope(engine) as s:
        return {r: keys.create(s, r) for r in roles}


@contextmanager
def live_server(settings: Settings):
    """The app served by uvicorn on 127.0.0.1 (a free port) in a thread, for raw-socket requests."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


def raw_request(port: int, head: str, body_chunks=(), timeout: float = 20.0) -> tuple[int, dict, int]:
    """Send a request head and then body chunks until the server answers; (status, JSON answer, bytes of
    body sent before the answer came)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sent = 0
    try:
        sock.sendall(head.encode("latin-1"))
        sock.setblocking(False)
        data = b""
        for chunk in body_chunks:
            try:
                data += sock.recv(65536)
            except BlockingIOError:
                pass
            if data:
                break
            try:
                sock.setblocking(True)
                sock.sendall(chunk)
                sent += len(chunk)
                sock.setblocking(False)
            except OSError:  # the server answered and closed while we were still sending
                break
        sock.setblocking(True)
        while b"\r\n\r\n" not in data or len(data) < _length(data):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    finally:
        sock.close()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(body or b"{}"), sent


def _length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + len(sep) + int(line.split(b":")[1])
    return 0


@pytest.fixture
def ks(clean_db):
    write_generation(clean_db, hierarchy())
    return make_keys(clean_db)


def test_no_key_is_refused_before_the_body_is_read(ks, pg_url):
    """A 100 MB body announced without a key: 401 comes back while not one body byte was sent."""
    with live_server(Settings(database_url=pg_url)) as port:
        head = ("POST /v1/locate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100 * 1024 * 1024}\r\n\r\n")
        status, body, sent = raw_request(port, head)
        assert status == 401 and sent == 0 and "X-API-Key" in body["detail"]
        wrong = head.replace("Host: x\r\n", "Host: x\r\nX-API-Key: wg_wrong\r\n")
        status, body, _ = raw_request(port, wrong)
        assert status == 401 and body["detail"] == "unknown or revoked API key"


def test_body_over_the_cap_is_refused_from_content_length(ks, pg_url):
    """20 MB announced with a good key: 413 naming the cap and its setting, before the body is sent."""
    with live_server(Settings(database_url=pg_url)) as port:
        head = ("POST /v1/locate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {ks['consumer']}\r\nContent-Length: {20 * 1024 * 1024}\r\n\r\n")
        status, body, sent = raw_request(port, head)
        assert status == 413 and sent == 0
        assert "16 MB" in body["detail"] and "WANGGE_MAX_BODY_MB" in body["detail"] and "20 MB" in body["detail"]


def test_chunked_body_is_cut_as_it_passes_the_cap(ks, pg_url):
    """Without Content-Length, the 413 comes once the streamed body passes the cap (1 MB here), long
    before the 64 MB the client meant to send."""
    chunk = b"x" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with live_server(Settings(database_url=pg_url, max_body_mb=1)) as port:
        head = ("POST /v1/geocode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-API-Key: {ks['consumer']}\r\nTransfer-Encoding: chunked\r\n\r\n")
        status, body, sent = raw_request(port, head, (framed for _ in range(1024)))
        assert status == 413 and "WANGGE_MAX_BODY_MB" in body["detail"] and "1 MB" in body["detail"]
        assert 1024 * 1024 < sent < 16 * 1024 * 1024
        # a small chunked body still goes through
        small = json.dumps({"addresses": ["解放路1号"]}).encode()
        status, body, _ = raw_request(port, head, [f"{len(small):x}\r\n".encode() + small + b"\r\n0\r\n\r\n"])
        assert status == 200 and len(body["results"]) == 1


@pytest.fixture
def small_caps(ks, pg_url):
    with TestClient(create_app(Settings(database_url=pg_url, max_body_mb=1, max_upload_mb=2))) as c:
        c.keys = ks
        yield c


def test_uploads_and_json_have_their_own_caps(small_caps):
    c = small_caps
    planner = {"X-API-Key": c.keys["planner"]}
    blob = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    r = c.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
               files={"file": ("big.geojson", blob)}, headers=planner)
    assert r.status_code == 413 and "WANGGE_MAX_UPLOAD_MB" in r.json()["detail"] and "2 MB" in r.json()["detail"]
    # 1.5 MB: over the JSON cap, under the upload cap
    mid = b"{" + b" " * (1536 * 1024) + b"}"
    r = c.post("/v1/locate", content=mid, headers={**planner, "Content-Type": "application/json"})
    assert r.status_code == 413 and "WANGGE_MAX_BODY_MB" in r.json()["detail"]
    r = c.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
               files={"file": ("mid.geojson", mid)}, headers=planner)
    assert r.status_code == 422 and "mid.geojson" in r.json()["detail"]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _post_zip(c, name: str, data: bytes):
    return c.post("/v1/redraws/file", data={"level": "grid", "parent": COMM},
                  files={"file": (name, data)}, headers={"X-API-Key": c.keys["planner"]})


def _no_leak(detail: str) -> None:
    for leak in ("/tmp", "vsizip", "wangge-u", "proposal.zip", "Traceback", "index 0", "pyogrio", "GDAL"):
        assert leak not in detail, detail


def test_zipped_uploads_are_capped_before_extraction_and_errors_leak_nothing(small_caps):
    c = small_caps
    many = _zip({f"f{i}.txt": b"x" for i in range(101)})
    r = _post_zip(c, "many.zip", many)
    assert r.status_code == 422 and "101 files" in r.json()["detail"] and "WANGGE_MAX_ZIP_MEMBERS" in r.json()["detail"]
    bomb = _zip({"grids.shp": b"\0" * (300 * 1024 * 1024)})  # 300 MB of zeros, ~300 KB zipped
    assert len(bomb) < 2 * 1024 * 1024
    r = _post_zip(c, "bomb.zip", bomb)
    assert r.status_code == 422 and "300 MB" in r.json()["detail"] and "WANGGE_MAX_UNZIPPED_MB" in r.json()["detail"]
    r = _post_zip(c, "broken.zip", b"PK\x03\x04 this is no zip")
    assert r.status_code == 422 and "broken.zip" in r.json()["detail"]
    _no_leak(r.json()["detail"])
    empty = _zip({"grids.shp": b"\0" * (20 * 1024 * 1024), "grids.shx": b"", "grids.dbf": b""})
    r = _post_zip(c, "empty.zip", empty)
    assert r.status_code == 422 and "empty.zip" in r.json()["detail"]
    assert "holds no features" in r.json()["detail"] or "cannot be read" in r.json()["detail"]
    _no_leak(r.json()["detail"])
    r = _post_zip(c, "nothing.zip", _zip({"readme.txt": b"hello"}))
    assert r.status_code == 422 and "no spatial file" in r.json()["detail"]
    for d in (r.json()["detail"],):
        _no_leak(d)


def test_read_frame_caps_for_the_import_command(tmp_path):
    """The importers read through the same capped unzip: member count and unpacked size, by name."""
    path = tmp_path / "areas.zip"
    path.write_bytes(_zip({f"a{i}.txt": b"x" * 1000 for i in range(5)}))
    with pytest.raises(ImportRefused, match=r"5 files; at most 3 \(WANGGE_MAX_ZIP_MEMBERS\)"):
        read_frame(path, max_members=3)
    with pytest.raises(ImportRefused, match=r"WANGGE_MAX_UNZIPPED_MB"):
        read_frame(path, max_unzipped_mb=0.002)
    plain = tmp_path / "notes.geojson"
    plain.write_text("no features here", encoding="utf-8")
    with pytest.raises(ImportRefused) as exc:
        read_frame(plain, name="notes.geojson")
    assert str(exc.value).startswith("notes.geojson: cannot be read") and "pyogrio" not in str(exc.value)
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(ImportRefused, match="holds no features"):
        read_frame(empty)


# -- memory that comes back -------------------------------------------------------------------------
def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _settles_within(pid: int, ceiling: float, polls: int = 60) -> float:
    """The worker's RSS once it is at or under `ceiling`, or the last reading after `polls` half-second
    looks (the trim runs in a thread just after the answer is sent)."""
    rss = _rss_mb(pid)
    for _ in range(polls):
        if rss <= ceiling:
            break
        time.sleep(0.5)
        rss = _rss_mb(pid)
    return rss


def test_worker_memory_comes_back_after_heavy_requests(engine, pg_url):
    """`wangge serve` on the small demo: after each heavy request (a proposal of 199,000 vertices, just under WANGGE_MAX_VERTICES
    and its before/after map, a 15 MB body, 100,000 points, a batch of long addresses, bodies refused
    at 413) the worker is back within 200 MB of its warmed-up baseline."""
    import math
    import os
    import subprocess
    import sys

    import httpx

    from tests.conftest import fresh_demo

    report = fresh_demo(engine)
    with engine.connect() as conn:
        comm, cx, cy = conn.execute(text(
            "SELECT a.code, ST_X(ST_Centroid(a.geom)), ST_Y(ST_Centroid(a.geom)) FROM generation_area g "
            "JOIN area a ON a.id = g.area_id WHERE g.level = 'community' ORDER BY a.code LIMIT 1")).one()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, WANGGE_DATABASE_URL=pg_url, WANGGE_ESCALATION_INTERVAL_S="0")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": report["keys"]["admin"]},
                         timeout=300)
        for _ in range(240):
            try:
                if c.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)

        def proposal(n: int) -> bytes:
            ring = [[cx + 0.003 * math.cos(2 * math.pi * i / n), cy + 0.003 * math.sin(2 * math.pi * i / n)]
                    for i in range(n)]
            feature = {"type": "Feature", "properties": {"code": comm + "901", "name": "大"},
                       "geometry": {"type": "Polygon", "coordinates": [ring + ring[:1]]}}
            return json.dumps({"level": "grid", "parent": comm,
                               "features": {"type": "FeatureCollection", "features": [feature]}}).encode()

        def post(url, body: bytes):
            return c.post(url, content=body, headers={"Content-Type": "application/json"})

        # warm up every code path once, so lazily built caches count in the baseline
        rid = post("/v1/redraws", proposal(100)).json()["id"]
        assert c.get(f"/maps/redraws/{rid}").status_code == 200
        assert post("/v1/geocode", json.dumps({"addresses": ["解放路1号"]}).encode()).status_code == 200
        assert c.get(f"/v1/locate?lon={cx}&lat={cy}").status_code == 200
        baseline = _rss_mb(proc.pid)
        ceiling = baseline + 200

        big = post("/v1/redraws", proposal(199_000))
        assert big.status_code == 200, big.text[:300]
        heavy = [("proposal of 199,000 vertices", None),
                 ("its before/after map", lambda: c.get(f"/maps/redraws/{big.json()['id']}")),
                 ("a 15 MB body", lambda: post("/v1/locate", json.dumps(
                     {"points": [[cx, cy]], "pad": "x" * 15_000_000}).encode())),
                 ("100,000 points", lambda: post("/v1/locate", json.dumps(
                     {"points": [[cx + i * 1e-7, cy] for i in range(100_000)]}).encode())),
                 ("12 addresses of 200,000 characters", lambda: post("/v1/geocode", json.dumps(
                     {"addresses": ["解放路" * 66_000 + "1号"] * 12}, ensure_ascii=False).encode())),
                 ("41 MB refused", lambda: post("/v1/locate", b" " * (41 * 1024 * 1024)))]
        seen = {}
        for name, send in heavy:
            if send is not None:
                assert send().status_code in (200, 413, 422), name  # refused early (limits) or served
            seen[name] = _settles_within(proc.pid, ceiling)
        print(f"worker RSS baseline {baseline:.0f} MB; after: "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in seen.items()))
        assert all(rss <= ceiling for rss in seen.values()), (baseline, seen)
    finally:
        proc.terminate()
        proc.wait(30)
