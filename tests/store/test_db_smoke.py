from sqlalchemy import text


def test_postgis_present_and_schema_migrated(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SELECT postgis_lib_version()")).scalar().startswith("3.")
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
    assert {"area", "generation", "generation_area", "api_key", "station", "address"} <= tables


def test_audit_entries_are_json_with_their_text_and_times(engine):
    from datetime import datetime, timezone

    from gis.store import audit
    from gis.store.db import session_scope

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with session_scope(engine) as session:
        audit.write(session, "test:audit", "rename", {"name": "历下区", "at": when, "n": 3, "none": None})
    with engine.begin() as conn:
        detail = conn.execute(text("SELECT detail FROM audit_log WHERE actor = 'test:audit' ORDER BY id DESC")).scalar()
        conn.execute(text("DELETE FROM audit_log WHERE actor = 'test:audit'"))
    assert detail == {"name": "历下区", "at": str(when), "n": 3, "none": None}
