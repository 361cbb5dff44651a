"""The queries the record is read with in more than one place, each written once, by name, with why
it is written so (as MapIt's `GenerationManager.current()` and `AreaManager.by_location()`).

Plain SQL text and small helpers over a SQLAlchemy connection or session; no ORM, and no imports from
the rest of `gis` beyond its vocabulary.
"""
from __future__ import annotations

from sqlalchemy import text

from gis.vocab import OPEN_STATUSES


def sql_list(values) -> str:
    """A literal SQL list ('a','b') of trusted words from gis.vocab, for CHECKs and index predicates."""
    return ",".join(f"'{v}'" for v in values)


# The open statuses as a literal list, not a bound array: the planner uses the partial index
# request_open_due (whose predicate is this same text) only when a query repeats it literally.
OPEN_SQL = sql_list(OPEN_STATUSES)


# -- generations ------------------------------------------------------------------------------------
# A generation's map is its membership rows (generation_area: level, code, parent) joined to the
# immutable area rows that hold the boundary, name and households. Every read of "the areas of
# generation g" joins them so; the usual aliases are ga (membership) and a (area).
def areas_join(ga: str = "ga", a: str = "a") -> str:
    """The FROM text joining a generation's membership rows to their area rows, under these aliases."""
    return f"generation_area {ga} JOIN area {a} ON {a}.id = {ga}.area_id"


GENERATION_AREAS = areas_join()


def first_covering(geom: str, level: str = ":l", generation: str = ":g", ga: str = "cv", a: str = "cva") -> str:
    """A scalar subquery: the code of the `level` area of `generation` that covers `geom`: for grids the
    deepest tier that covers (grids of different tiers overlap), then the first code in C collation
    (the contract's tie rule, the same answer as the locate engine)."""
    return (f"(SELECT {ga}.code FROM {areas_join(ga, a)} WHERE {ga}.generation_id = {generation} "
            f"AND {ga}.level = {level} AND ST_Covers({a}.geom, {geom}) "
            f"ORDER BY {ga}.tier DESC NULLS LAST, {ga}.code COLLATE \"C\" LIMIT 1)")


def active_generation(conn, lock: bool = False) -> int | None:
    """The generation locate answers with (one row, id 1); `lock` holds it until commit, so a redraw
    commit and a rollback cannot both move it from the same state."""
    return conn.execute(text("SELECT generation_id FROM active_generation WHERE id = 1"
                             + (" FOR UPDATE" if lock else ""))).scalar()


def area(conn, generation: int, level: str, code: str):
    """One area of a generation by level and code: name and boundary (WKB), or None (redraws read a
    parent's boundary and name this way)."""
    return conn.execute(text(f"""
        SELECT a.name, ST_AsBinary(a.geom) AS wkb FROM {GENERATION_AREAS}
        WHERE ga.generation_id = :g AND ga.level = :l AND ga.code = :c"""),
        {"g": generation, "l": level, "c": code}).first()


def level_areas(conn, generation: int, level: str, parents: list[str] | None = None) -> list:
    """The areas of one level of a generation (optionally only those under `parents`) in code order:
    area_id, code, name, parent_code, households, tier (grids) and the boundary as WKB."""
    return conn.execute(text(f"""
        SELECT ga.area_id, ga.code, a.name, ga.parent_code, a.households, ga.tier, ST_AsBinary(a.geom) AS wkb
        FROM {GENERATION_AREAS}
        WHERE ga.generation_id = :g AND ga.level = :l
          AND (CAST(:p AS text[]) IS NULL OR ga.parent_code = ANY(CAST(:p AS text[])))
        ORDER BY ga.code COLLATE "C"
    """), {"g": generation, "l": level, "p": None if parents is None else list(parents)}).all()


# -- the address registry ---------------------------------------------------------------------------
def addresses(conn) -> list:
    """Every registry address (address, lon, lat, households) in id order: coverage, siting and the
    coverage map weigh walking by households at these points."""
    return conn.execute(text(
        "SELECT address, ST_X(geom) AS lon, ST_Y(geom) AS lat, households FROM address ORDER BY id")).all()
