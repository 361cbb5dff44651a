"""Time windows for the command center: calendar months and day windows in China Standard Time
(months are the cities' reporting unit), each with the window before it for trends."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


class WindowError(ValueError):
    """A window that cannot be used; the message names the parameter."""


def parse_month(month: str) -> tuple[int, int]:
    try:
        if len(month) != 7 or month[4] != "-":
            raise ValueError
        y, m = (int(p) for p in month.split("-"))
        if not 1 <= m <= 12 or not 2000 <= y <= 2100:
            raise ValueError
    except ValueError as e:
        raise WindowError(f"month: {month!r} is not YYYY-MM") from e
    return y, m


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
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=TZ)
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=TZ)
    if end is None:
        end = start + timedelta(days=days) if start is not None else (
            (latest + timedelta(seconds=1)) if latest is not None else datetime.now(TZ))
    if start is None:
        start = end - timedelta(days=days)
    if not start < end:
        raise WindowError(f"start: {start.isoformat()} is not before end {end.isoformat()}")
    return start, end


def request_window(conn, start: datetime | None, end: datetime | None, days: float):
    """(start, end, previous): the asked window of requests (default: `days` up to the newest request
    in the record) and the window of the same length before it, for trends."""
    from sqlalchemy import text

    latest = None
    if start is None and end is None:
        latest = conn.execute(text("SELECT max(created_at) FROM request")).scalar()
    s, e = day_window(start, end, days, latest)
    return s, e, (s - (e - s), s)
