"""The rules of the request loop, as data: the category menu and who holds each category, the colour
table (分色治理: importance × urgency → colour and handling deadline), and the nine-step state machine.

Pure (no database): the loop in `gis.command.loop` applies these rules to stored requests.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "data" / "request_rules.json"

# Allowed moves. Supervision (督办) is entered by the command center or by the deadline sweep; a
# resident who is not satisfied before evaluating sends the request back to handling (返工).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "collected": ("discovered", "rejected"),
    "discovered": ("analysed", "rejected"),
    "analysed": ("dispatched",),
    "dispatched": ("handling", "analysed", "supervised"),
    "handling": ("coordinating", "fed_back", "supervised"),
    "coordinating": ("handling", "fed_back", "supervised"),
    "supervised": ("dispatched", "handling", "coordinating", "fed_back"),
    "fed_back": ("evaluated", "handling"),
    "evaluated": (),
    "rejected": (),
}

ANY = "*"


@dataclass(frozen=True)
class MoveRule:
    """What a move needs besides being allowed: the argument the caller must give (`needs`, and `why`
    for the refusal) or may give (`takes`), whether every department summoned by the whistle must
    have reported first (`settled`), and the request columns it sets (SQL, parameters from the loop)."""

    needs: str | None = None
    why: str = ""
    takes: str | None = None
    settled: bool = False
    sets: tuple[str, ...] = ()


# Per move (from, to), ANY standing for every status; a move is under each rule whose key it matches.
MOVE_RULES: dict[tuple[str, str], MoveRule] = {
    (ANY, "rejected"): MoveRule("note", "say why the request is rejected", sets=("closed_at = :now",)),
    (ANY, "dispatched"): MoveRule(takes="assignees"),
    (ANY, "coordinating"): MoveRule("departments", "name the departments the street summons (吹哨)"),
    ("coordinating", ANY): MoveRule(settled=True),
    (ANY, "fed_back"): MoveRule("result", "say what was done (it is published on the grid's board, 晒单)",
                                settled=True, sets=("result = :result", "finished_at = :now")),
    (ANY, "evaluated"): MoveRule("satisfaction", "give the resident's rating, 1 (worst) to 5 (best)",
                                 sets=("satisfaction = :sat", "feedback = :fb", "closed_at = :now")),
    ("fed_back", "handling"): MoveRule("note", "say why the work is sent back (返工)",
                                       sets=("finished_at = NULL", "result = NULL")),
}


def move_rules(frm: str, to: str) -> list[MoveRule]:
    """The rules a move from `frm` to `to` is under, in MOVE_RULES order."""
    return [r for key, r in MOVE_RULES.items() if key in ((frm, to), (ANY, to), (frm, ANY))]

MATTER_CLASSES = {"public": "公家事", "shared": "大家事", "private": "自家事"}
MATTER_ALIASES = {v: k for k, v in MATTER_CLASSES.items()} | {k: k for k in MATTER_CLASSES}

# Who answers, by matter class (三事分流): staff roles looked up at the request's place, nearest level first.
ROUTING = {
    "public": ("holding_department",),
    "shared": ("grid_worker", "community_secretary"),
    "private": ("unit_leader", "volunteer", "mediator"),  # 自家事: the unit leader, volunteers, mediators
}


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Colour:
    """One colour of the table (分色治理): its importance/urgency pair and handling deadline in hours."""
    name: str
    label: str
    important: bool
    urgent: bool
    hours: float


@dataclass(frozen=True)
class Rules:
    """The loaded request rules: categories (who holds each), departments and the colour table."""
    categories: dict[str, dict]
    departments: tuple[str, ...]
    colours: dict[str, Colour]

    def colour(self, important: bool, urgent: bool) -> Colour:
        """The colour (and deadline) for an importance/urgency pair."""
        for c in self.colours.values():
            if c.important == bool(important) and c.urgent == bool(urgent):
                return c
        raise RulesError(f"no colour for important={important}, urgent={urgent}")

    def due(self, created: datetime, colour: Colour) -> datetime:
        """The handling deadline of a request created at `created` with `colour`."""
        return created + timedelta(hours=colour.hours)

    def department(self, category: str) -> str:
        """The department that holds a category."""
        return self.categories[category]["department"]

    def matter_class(self, category: str) -> str:
        """A category's matter class (public, shared or private)."""
        return self.categories[category]["matter_class"]


def load_rules(path: Path | str | None = None) -> Rules:
    """Read and check a rules file (default: the one shipped in data/)."""
    path = Path(path) if path else DEFAULT_RULES
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise RulesError(f"cannot read request rules {path}: {e}") from e
    departments = tuple(raw.get("departments", ()))
    cats = raw.get("categories") or {}
    if not cats:
        raise RulesError(f"{path}: no categories")
    for name, c in cats.items():
        mc = MATTER_ALIASES.get(c.get("matter_class", ""))
        if mc is None:
            raise RulesError(f"{path}: category {name!r} has matter_class {c.get('matter_class')!r}; "
                             f"use one of {', '.join(MATTER_CLASSES)}")
        c["matter_class"] = mc
        if not c.get("department"):
            raise RulesError(f"{path}: category {name!r} names no department")
        if c["department"] not in departments:
            departments += (c["department"],)
    colours = {}
    for name, c in (raw.get("colours") or {}).items():
        if name not in ("red", "orange", "yellow", "blue"):
            raise RulesError(f"{path}: colour {name!r}; use red, orange, yellow, blue")
        try:
            hours = float(c["hours"])
        except (KeyError, TypeError, ValueError) as e:
            raise RulesError(f"{path}: colour {name!r} needs a number of hours") from e
        if hours <= 0:
            raise RulesError(f"{path}: colour {name!r} has hours {hours}; must be > 0")
        colours[name] = Colour(name, c.get("label", name), bool(c.get("important")), bool(c.get("urgent")), hours)
    pairs = {(c.important, c.urgent) for c in colours.values()}
    if len(pairs) != 4 or len(colours) != 4:
        raise RulesError(f"{path}: colours must cover the four importance × urgency pairs once each")
    return Rules(cats, departments, colours)


def allowed(status: str) -> tuple[str, ...]:
    """The statuses a request may move to from `status` (none once finished)."""
    return TRANSITIONS.get(status, ())
