"""The queries the record is read with in more than one place, each written once, by name, with why
it is written so (as MapIt's `GenerationManager.current()` and `AreaManager.by_location()`).

Plain SQL text and small helpers over a SQLAlchemy connection or session; no ORM, and no imports from
the rest of `gis` beyond its vocabulary.
"""
from __future__ import annotations

from gis.vocab import OPEN_STATUSES


def sql_list(values) -> str:
    """A literal SQL list ('a','b') of trusted words from gis.vocab, for CHECKs and index predicates."""
    return ",".join(f"'{v}'" for v in values)


# The open statuses as a literal list, not a bound array: the planner uses the partial index
# request_open_due (whose predicate is this same text) only when a query repeats it literally.
OPEN_SQL = sql_list(OPEN_STATUSES)
