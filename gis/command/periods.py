"""Time windows for the command center: calendar months and day windows in China Standard Time
(months are the cities' reporting unit), each with the window before it for trends."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator

TZ = ZoneInfo("Asia/Shanghai")
YEARS = (1900, 2199)  # the years a window may touch: far wider than any record, far from the calendar's ends
TIME_HELP = (f"ISO 8601 date or date-time, e.g. 2026-10-01 or 2026-10-01T08:00:00+08:00 (China Standard Time "
             f"when no offset is given), years {YEARS[0]}–{YEARS[1]}; numbers (Unix times) are refused")


class WindowError(ValueError):
    """A window that cannot be used; the message names the parameter."""


def iso_time(value):
    """Read an ISO 8601 date or date-time and nothing else: a bare number is refused rather than taken as
    Unix seconds, and years outside YEARS are refused before any arithmetic can leave the calendar."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not an ISO date or time (e.g. 2026-10-01 or "
                             f"2026-10-01T08:00:00+08:00)") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif not isinstance(value, datetime):
        raise ValueError("an ISO date or time is needed (e.g. 2026-10-01 or 2026-10-01T08:00:00+08:00), "
                         "not a number")
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ValueError(f"{value.isoformat()} is outside the years {YEARS[0]}–{YEARS[1]}")
    return value


IsoTime = Annotated[datetime, BeforeValidator(iso_time)]
"""A datetime query/body field that accepts ISO dates and times only (see iso_time)."""


def parse_month(month: str) -> tuple[int, int]:
    """(year, month) of an exact `YYYY-MM` (ASCII digits, years 2000–2100), else WindowError naming `month`."""
    m = re.fullmatch(r"(20[0-9]{2}|2100)-(0[1-9]|1[0-2])", month or "")
    if m is None:
        raise WindowError(f"month: {month[:40]!r} is not YYYY-MM (years 2000–2100)")
    return int(m.group(1)), int(m.group(2))


def month_window(month: str | None = None, now: datetime | None = None, previous: bool = False) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month; default this month, or with `previous` the last complete one."""
    now = (now or datetime.now(TZ)).astimezone(TZ)
    if month:
        y, m = parse_month(month)
    else:
        y, m = now.year, now.month
        if previous:
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    start = datetime(y, m, 1, tzinfo=TZ)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=TZ)
    return start, end


def shift_month(start: datetime, k: int) -> tuple[datetime, datetime]:
    """The month k months from the one starting at `start`."""
    y, m = start.year, start.month - 1 + k
    y, m = y + m // 12, m % 12 + 1
    return month_window(f"{y:04d}-{m:02d}")


def day_window(start: datetime | None, end: datetime | None, days: float, latest: datetime | None) -> tuple[datetime, datetime]:
    """[start, end): given bounds win; otherwise `days` up to `end`, or up to just after `latest`
    (the newest record) so a fresh dashboard opens on data rather than an empty window."""
    start, end = _bounded("start", start), _bounded("end", end)
    try:
        if end is None:
            end = start + timedelta(days=days) if start is not None else (
                (latest + timedelta(seconds=1)) if latest is not None else datetime.now(TZ))
        if start is None:
            start = end - timedelta(days=days)
    except (OverflowError, ValueError):
        raise WindowError(f"days: {days} days from the given bound leaves the years {YEARS[0]}–{YEARS[1]}") from None
    if not (YEARS[0] - 1 <= start.year and end.year <= YEARS[1] + 1):
        raise WindowError(f"days: {days} days from the given bound leaves the years {YEARS[0]}–{YEARS[1]}")
    if not start < end:
        raise WindowError(f"start: {start.isoformat()} is not before end {end.isoformat()}")
    return start, end


def _bounded(name: str, t: datetime | None) -> datetime | None:
    """`t` in China Standard Time when it has no zone; refused (naming `name`) outside YEARS, so that no
    window arithmetic can run off the calendar (OverflowError) however it is called."""
    if t is None:
        return None
    if not YEARS[0] <= t.year <= YEARS[1]:
        raise WindowError(f"{name}: {t.isoformat()} is outside the years {YEARS[0]}–{YEARS[1]}")
    return t if t.tzinfo else t.replace(tzinfo=TZ)


def request_window(conn, start: datetime | None, end: datetime | None, days: float):
    """(start, end, previous): the asked window of requests (default: `days` up to the newest request
    in the record) and the window of the same length before it, for trends."""
    from sqlalchemy import text

    latest = None
    if start is None and end is None:
        latest = conn.execute(text("SELECT max(created_at) FROM request")).scalar()
    s, e = day_window(start, end, days, latest)
    return s, e, (s - (e - s), s)
