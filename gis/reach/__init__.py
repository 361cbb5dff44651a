"""Walking reach: the network graph, nearest stations, N-minute service circles, coverage and siting."""
from gis.lazy import lazy_exports

_EXPORTS = {
    "StationReach": "gis.reach.network",
    "WalkGraph": "gis.reach.network",
    "build_graph": "gis.reach.network",
    "circle": "gis.reach.service_area",
    "coverage_report": "gis.reach.service_area",
    "coverage_table": "gis.reach.service_area",
    "household_walks": "gis.reach.service_area",
    "load_graph": "gis.reach.network",
    "propose_sites": "gis.reach.service_area",
    "reach_m": "gis.reach.service_area",
    "station_circles": "gis.reach.circles",
    "walk_to_nearest": "gis.reach.service_area",
    "warm_in_background": "gis.reach.circles",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
