"""Mapbox vector tiles of one level of a generation, cut by PostGIS (ST_AsMVT), so a map can draw the
city's tens of thousands of units a tile at a time. A generation's areas never change (areas are
immutable, a redraw makes a new generation), so a tile may be cached for as long as one likes."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from gis.store import generations
from gis.store.queries import GENERATION_AREAS
from gis.vocab import LEVELS

MAX_ZOOM = 22
WHICH_TTL_S = 2.0  # how long a worker trusts what it read about a generation (which is active, its state)
TILE_VERSION = 1  # bump when TILE_SQL's output changes: cached tiles and ETags of the old form are not reused
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


# The generation a tile request reads, in one query: its id, state, and creation stamp (a rebuilt
# database reuses ids, the stamp tells its generations apart, so a cached tile is never another's).
WHICH_SQL = text("""
    SELECT g.id, g.state, floor(extract(epoch FROM g.created_at) * 1000000)::bigint FROM generation g
    WHERE g.id = COALESCE(CAST(:g AS bigint), (SELECT generation_id FROM active_generation WHERE id = 1))
""")


@dataclass(frozen=True)
class Tile:
    """A tile answered: its generation, bytes (b"" = no area meets it) and strong ETag."""

    generation: int
    body: bytes
    etag: str
    draft: bool = False  # a draft's tile is neither cached nor to be kept by clients


class TileCache:
    """Tiles on disk under `root/{generation}-{stamp}/{level}/{z}/{x}/{y}.mvt`, written atomically
    (a temporary file renamed into place), total size kept under `max_bytes` by dropping the oldest
    generations whole. Shared by every worker and by the /tiles and /ogc routes."""

    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = root, max_bytes
        self._written = 0
        self._lock = threading.Lock()
        self._which: dict[int | None, tuple[float, tuple]] = {}

    def which(self, conn, generation: int | None) -> tuple | None:
        """(id, state, stamp) of the generation asked for (None = the active one), remembered for
        WHICH_TTL_S so a warm tile needs no query; a commit or rollback shows within that time."""
        now = time.monotonic()
        hit = self._which.get(generation)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = conn.execute(WHICH_SQL, {"g": generation}).first()
        if row is None:
            return None
        row = (int(row[0]), row[1], int(row[2]))
        if len(self._which) > 1000:
            self._which.clear()
        self._which[generation] = (now + WHICH_TTL_S, row)
        return row

    def path(self, key: str, level: str, z: int, x: int, y: int) -> Path:
        """Where one tile of the generation `key` lives."""
        return self.root / key / f"v{TILE_VERSION}" / level / str(z) / str(x) / f"{y}.mvt"

    def get(self, key: str, level: str, z: int, x: int, y: int) -> bytes | None:
        """The cached tile, or None when it is not on disk."""
        try:
            return self.path(key, level, z, x, y).read_bytes()
        except OSError:
            return None

    def put(self, key: str, level: str, z: int, x: int, y: int, body: bytes) -> None:
        """Keep one tile (atomically; a failure to write only means it is cut again next time)."""
        target = self.path(key, level, z, x, y)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.replace(tmp, target)
        except OSError:
            return
        with self._lock:
            self._written += len(body) + 4096
            due = self._written > self.max_bytes // 16
            if due:
                self._written = 0
        if due:
            self.evict()

    def evict(self) -> list[str]:
        """Drop the oldest generations' tiles until the cache fits its bound; the keys dropped."""
        sizes = {}
        try:
            dirs = [d for d in os.scandir(self.root) if d.is_dir() and d.name.split("-")[0].isdigit()]
        except OSError:
            return []
        for d in dirs:
            sizes[d.name] = sum(len_ for len_ in _sizes(d.path))
        total, dropped = sum(sizes.values()), []
        for key in sorted(sizes, key=lambda k: tuple(int(p) for p in k.split("-") if p.isdigit())):
            if total <= self.max_bytes:
                break
            gone = self.root / f".evict-{key}-{os.getpid()}"
            try:
                os.rename(self.root / key, gone)
                shutil.rmtree(gone, ignore_errors=True)
            except OSError:
                continue
            total -= sizes[key]
            dropped.append(key)
        return dropped


def _sizes(path: str):
    """Each file's size (in 4 KiB blocks, as the disk holds it) under `path`."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                yield -(-os.path.getsize(os.path.join(dirpath, name)) // 4096) * 4096
            except OSError:
                pass


_CACHES: dict[tuple[Path, int], TileCache] = {}


def cache_for(home: Path, max_mb: float) -> TileCache | None:
    """The process's tile cache under `home/tiles` (one per folder), None when the bound is 0."""
    if max_mb <= 0:
        return None
    key = (home / "tiles", int(max_mb * 1024 * 1024))
    c = _CACHES.get(key)
    if c is None:
        c = _CACHES[key] = TileCache(*key)
    return c


class LazyConnection:
    """A connection taken from the pool only when a query is actually run (a warm tile runs none)."""

    def __init__(self, engine: Engine):
        self.engine, self.conn = engine, None

    def execute(self, *args, **kwargs):
        """Run a statement on the connection, checking it out first if need be."""
        if self.conn is None:
            self.conn = self.engine.connect()
        return self.conn.execute(*args, **kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.conn is not None:
            self.conn.close()


def cached_tile(engine: Engine, cache: TileCache | None, level: str, z: int, x: int, y: int,
                generation: int | None = None, drafts: bool = False) -> Tile:
    """Tile z/x/y of `level` in `generation` (the active one when None): from the disk cache when it
    is there (no database round trip while the generation is remembered), else cut by PostGIS and
    kept. Drafts are cut every time (never cached)."""
    check_address(level, z, x, y)
    with LazyConnection(engine) as conn:
        row = cache.which(conn, generation) if cache else conn.execute(WHICH_SQL, {"g": generation}).first()
        if row is None:
            raise NoSuchGeneration("generation: there is no active generation" if generation is None
                                   else f"generation: generation {generation} does not exist")
        gen, state, stamp = int(row[0]), row[1], int(row[2])
        if state == "draft" and not drafts:
            raise NoSuchGeneration(f"generation: generation {generation} does not exist")
        key = f"{gen}-{stamp}"
        etag = f'"t{TILE_VERSION}-{key}-{level}-{z}-{x}-{y}"'
        use = cache if state != "draft" else None
        body = use.get(key, level, z, x, y) if use else None
        if body is None:
            body = bytes(conn.execute(TILE_SQL, {"z": z, "x": x, "y": y, "g": gen, "level": level,
                                                 "extent": EXTENT, "buffer": BUFFER}).scalar() or b"")
            if use:
                use.put(key, level, z, x, y, body)
    return Tile(gen, body, etag, draft=state == "draft")
