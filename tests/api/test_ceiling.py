"""GET /health/live: the constant route the load bench measures as the stack's ceiling; it needs no key,
no database and no start-up state."""
from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from gis.settings import Settings


def test_live_answers_a_constant_without_key_or_database():
    # a database that does not exist, and the lifespan never run: the route touches neither
    app = create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    c = TestClient(app)
    r = c.get("/health/live")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert c.post("/health/live").status_code == 405

