"""Redraws: proposals checked and committed (propose), automatic balanced partitions (partition), and redraws a
planner asks for (asked)."""
from gis.lazy import lazy_exports

_EXPORTS = {
    "Buildings": "gis.redraw.propose",
    "Estates": "gis.redraw.propose",
    "Parent": "gis.redraw.propose",
    "Proposal": "gis.redraw.propose",
    "ProposalTooLarge": "gis.redraw.propose",
    "RedrawConflict": "gis.redraw.propose",
    "RedrawError": "gis.redraw.propose",
    "RedrawNotFound": "gis.redraw.propose",
    "adjacency": "gis.redraw.partition",
    "auto": "gis.redraw.asked",
    "auto_units": "gis.redraw.asked",
    "best_partition": "gis.redraw.partition",
    "check_level": "gis.redraw.propose",
    "commit": "gis.redraw.propose",
    "estate_findings": "gis.redraw.propose",
    "estate_groups": "gis.redraw.asked",
    "from_file": "gis.redraw.asked",
    "group_atoms": "gis.redraw.partition",
    "households_of": "gis.redraw.propose",
    "merge": "gis.redraw.asked",
    "off_street": "gis.redraw.partition",
    "on_street_share": "gis.redraw.partition",
    "parse": "gis.redraw.propose",
    "polsby_popper": "gis.redraw.partition",
    "reading_order": "gis.redraw.asked",
    "reparent_below_grids": "gis.redraw.propose",
    "resolve_parent": "gis.redraw.propose",
    "redraw_grids": "gis.redraw.partition",
    "shared_edges": "gis.redraw.partition",
    "split": "gis.redraw.asked",
    "streets_in": "gis.redraw.asked",
    "validate": "gis.redraw.propose",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
