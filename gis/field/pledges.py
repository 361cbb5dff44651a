"""Public pledges (承诺践诺) of people who report to grids: made with a text and an optional due date,
then settled once as kept or broken; listed per community or person for the notice board."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.command.periods import TZ
from gis.errors import Invalid, NotFound, NotReady

TEXT_MAX = 500
SETTLED = ("kept", "broken")
STATES = ("made",) + SETTLED


def _row(r) -> dict:
    return {"id": r.id, "person_id": r.person_id, "person": r.name, "text": r.text, "state": r.state,
            "made_at": r.made_at, "due_at": r.due_at, "settled_at": r.settled_at}


_SELECT = """SELECT pl.id, pl.person_id, p.name, pl.text, pl.state, pl.made_at, pl.due_at, pl.settled_at
             FROM pledge pl JOIN person p ON p.id = pl.person_id"""


def make(session: Session, person_id: int, text_: str, due_at: datetime | None, now: datetime) -> dict:
    """A new pledge of an existing person; Invalid naming `person_id`, `text` or `due_at`."""
    words = (text_ or "").strip()
    if not words:
        raise Invalid("text", "a pledge needs its words")
    if len(words) > TEXT_MAX:
        raise Invalid("text", f"at most {TEXT_MAX} characters")
    if due_at is not None and due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=TZ)  # naive: China Standard Time, as every time the API takes
    if due_at is not None and due_at <= now:
        raise Invalid("due_at", "a pledge's due date lies in the future")
    if session.execute(text("SELECT 1 FROM person WHERE id = :p"), {"p": person_id}).first() is None:
        raise Invalid("person_id", f"person {person_id} does not exist")
    pid = session.execute(text("INSERT INTO pledge (person_id, text, due_at, made_at) VALUES (:p, :t, :d, :n) "
                               "RETURNING id"), {"p": person_id, "t": words, "d": due_at, "n": now}).scalar()
    return get(session, pid)


def get(session: Session, pledge_id: int) -> dict:
    """One pledge with its person's name; NotFound when there is none."""
    r = session.execute(text(f"{_SELECT} WHERE pl.id = :i"), {"i": pledge_id}).first()
    if r is None:
        raise NotFound(f"pledge {pledge_id} does not exist")
    return _row(r)


def settle(session: Session, pledge_id: int, state: str, now: datetime) -> dict:
    """Mark a pledge kept or broken, once (NotReady when it was settled already)."""
    if state not in SETTLED:
        raise Invalid("state", f"{state!r}; use kept or broken")
    current = get(session, pledge_id)
    if current["state"] != "made":
        raise NotReady(f"pledge {pledge_id} was already settled as {current['state']}")
    session.execute(text("UPDATE pledge SET state = :s, settled_at = :n WHERE id = :i AND state = 'made'"),
                    {"s": state, "n": now, "i": pledge_id})
    return get(session, pledge_id)


def listing(session: Session, person_id: int | None = None, community_area_id: int | None = None,
            state: str | None = None, limit: int = 500) -> list[dict]:
    """Pledges newest first, of one person or of the people assigned to one community (by area id)."""
    if state is not None and state not in STATES:
        raise Invalid("state", f"{state!r}; use one of {', '.join(STATES)}")
    rows = session.execute(text(f"""{_SELECT}
        WHERE (CAST(:p AS integer) IS NULL OR pl.person_id = :p)
          AND (CAST(:c AS bigint) IS NULL OR pl.person_id IN (SELECT person_id FROM assignment WHERE area_id = :c))
          AND (CAST(:s AS text) IS NULL OR pl.state = :s)
        ORDER BY pl.made_at DESC, pl.id DESC LIMIT :lim"""),
        {"p": person_id, "c": community_area_id, "s": state, "lim": limit}).all()
    return [_row(r) for r in rows]
