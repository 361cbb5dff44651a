"""Mapbox vector tiles of one level of a generation, cut by PostGIS (ST_AsMVT), so a map can draw the
city's tens of thousands of units a tile at a time. A generation's areas never change (areas are
immutable, a redraw makes a new generation), so a tile may be cached for as long as one likes."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.store import generations
from gis.store.queries import GENERATION_AREAS
from gis.vocab import LEVELS

MAX_ZOOM = 22
EXTENT, BUFFER = 4096, 64  # tile coordinate grid and the margin (in those units) kept around a tile

# The areas whose geometry meets the tile (the && on the index first, then the exact test, so a tile
# holds exactly the areas that intersect it), in tile coordinates; the layer is named after the level.
TILE_SQL = text(f"""
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS m),
    rows AS (
        SELECT ST_AsMVTGeom(ST_Transform(a.geom, 3857), env.m, :extent, :buffer, true) AS geom,
               ga.code, a.name, a.households, ga.parent_code
        FROM {GENERATION_AREAS}, env
        WHERE ga.generation_id = :g AND ga.level = :level
          AND a.geom && ST_Transform(env.m, 4326) AND ST_Intersects(a.geom, ST_Transform(env.m, 4326))
    )
    SELECT ST_AsMVT(rows.*, :level, :extent, 'geom') FROM rows WHERE geom IS NOT NULL
""")


class TileError(ValueError):
    """A tile address that does not exist; `field` names the bad part (level, z, x or y)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class NoSuchGeneration(LookupError):
    """A generation that does not exist, or a draft the caller may not see."""


def check_address(level: str, z: int, x: int, y: int) -> None:
    """TileError unless `level` is a level and z/x/y a tile of the web-mercator pyramid."""
    if level not in LEVELS:
        raise TileError("level", f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if not 0 <= z <= MAX_ZOOM:
        raise TileError("z", f"zoom {z} is outside 0..{MAX_ZOOM}")
    for field, v in (("x", x), ("y", y)):
        if not 0 <= v < 2 ** z:
            raise TileError(field, f"{v} is outside 0..{2 ** z - 1} at zoom {z}")


def resolve_generation(conn: Connection, generation: int | None, drafts: bool = False) -> int:
    """The generation asked for, or the active one; NoSuchGeneration when it does not exist, is a
    draft and `drafts` is false (drafts are hidden, not forbidden: their existence is not told), or
    none is active."""
    try:
        gen = generations.choose(conn, generation, None, drafts)
    except generations.GenerationError as exc:
        raise NoSuchGeneration(str(exc)) from exc
    if gen is None:
        raise NoSuchGeneration("generation: there is no active generation")
    return int(gen)


def tile(conn: Connection, level: str, z: int, x: int, y: int, generation: int | None = None,
         drafts: bool = False) -> tuple[int, bytes]:
    """(generation, the MVT bytes) of `level`'s areas in tile z/x/y; b"" when no area meets the tile.
    Each feature carries code, name, households and parent_code."""
    check_address(level, z, x, y)
    gen = resolve_generation(conn, generation, drafts)
    body = conn.execute(TILE_SQL, {"z": z, "x": x, "y": y, "g": gen, "level": level,
                                   "extent": EXTENT, "buffer": BUFFER}).scalar()
    return gen, bytes(body or b"")
