"""Point lookup: the cover index per level, the engine over all levels with staff and stations, the per-process
cache, and the PostGIS reference answer."""
from gis.lazy import lazy_exports

_EXPORTS = {
    "EngineCache": "gis.locate.cache",
    "LevelData": "gis.locate.engine",
    "LevelIndex": "gis.locate.index",
    "LocateEngine": "gis.locate.engine",
    "Stations": "gis.locate.engine",
    "build_engine": "gis.locate.engine",
    "load_areas": "gis.locate.engine",
    "load_staff": "gis.locate.engine",
    "load_stations": "gis.locate.engine",
    "locate_codes_sql": "gis.locate.sql",
    "grid_paths_sql": "gis.locate.sql",
    "TieredIndex": "gis.locate.tiered",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
