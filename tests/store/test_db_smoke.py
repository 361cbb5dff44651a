from sqlalchemy import text


def test_postgis_present_and_schema_migrated(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SELECT postgis_lib_version()")).scalar().startswith("3.")
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'")).scalars())
    assert {"area", "generation", "generation_area", "api_key", "station", "address"} <= tables
