"""Open311 GeoReport v2 on the request loop: the menu (the rules' categories) as services, requests as
service requests (the nine steps folded to open/closed), JSON and XML as the spec and its published
examples (mysociety/fixmystreet t/open311/endpoint.t) write them, errors as Open311 error arrays.

Mapping: service_code = the category's `code` in the rules file, else its name; status = open while work
is owed (OPEN_STATUSES), closed once fed back, evaluated or rejected; status_notes =
the result, the reason for a rejection, else the current step; agency_responsible = the department that
holds the category; expected_datetime = the deadline (due_at); requested/updated_datetime = created/updated.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.command.rules import MATTER_CLASSES, Rules
from gis.vocab import OPEN_STATUSES, STEP_NAMES

CLOSED_STATUSES = tuple(s for s in STEP_NAMES if s not in OPEN_STATUSES)
DEFAULT_DAYS = 90      # no start/end date: the last 90 days, as the spec says
MAX_REQUESTS = 1000    # and at most 1000 requests
FLAGS = {"important": ("重要", "一般", "whether the matter is important (with urgent: its colour and deadline)"),
         "urgent": ("紧急", "一般", "whether the matter is urgent (with important: its colour and deadline)")}
# A list's element name in XML, by the list's name.
ITEM = {"services": "service", "attributes": "attribute", "values": "value", "service_requests": "request",
        "errors": "error", "endpoints": "endpoint", "formats": "format"}


class Open311Error(Exception):
    """An Open311 error: `code` is the HTTP status (400 bad input, 403 key, 404 not found)."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description

    def body(self) -> list[dict]:
        """The spec's error array."""
        return [{"code": self.code, "description": self.description}]


def stamp(value: datetime | None) -> str | None:
    """A time as the examples write it: UTC, whole seconds, `Z`."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def codes(rules: Rules) -> dict[str, str]:
    """service_code -> category name."""
    return {str(c.get("code") or name): name for name, c in rules.categories.items()}


def services(rules: Rules) -> list[dict]:
    """The menu: one service per category of the rules, in their order."""
    out = []
    for code, name in codes(rules).items():
        c = rules.categories[name]
        mc = c["matter_class"]
        out.append({"service_code": code, "service_name": name,
                    "description": f"{name}（{MATTER_CLASSES[mc]}），由{c['department']}负责",
                    "metadata": "true", "type": "realtime", "keywords": MATTER_CLASSES[mc], "group": mc})
    return out


def definition(rules: Rules, code: str) -> dict:
    """A service's attributes: whether the matter is important and urgent (they set colour and deadline)."""
    if code not in codes(rules):
        raise Open311Error(404, f"service_code: no service {code!r}")
    attrs = [{"variable": "true", "code": flag, "datatype": "singlevaluelist", "required": "false",
              "datatype_description": "true | false", "order": i, "description": words[2],
              "values": [{"key": "true", "name": words[0]}, {"key": "false", "name": words[1]}]}
             for i, (flag, words) in enumerate(FLAGS.items(), start=1)]
    return {"service_code": code, "attributes": attrs}


def category_of(rules: Rules, code: str | None) -> str:
    """The category a POSTed service_code names; 400/404 as Open311 errors."""
    if not code:
        raise Open311Error(400, "service_code: required")
    name = codes(rules).get(code)
    if name is None:
        raise Open311Error(404, f"service_code: no service {code!r}; GET services for the menu")
    return name


def flags(form) -> tuple[bool, bool]:
    """(important, urgent) from `attribute[important]`/`attribute[urgent]`; 400 naming a bad one."""
    out = []
    for flag in FLAGS:
        raw = (form.get(f"attribute[{flag}]") or "false").strip().lower()
        if raw not in ("true", "false"):
            raise Open311Error(400, f"attribute[{flag}]: {raw!r}; use true or false")
        out.append(raw == "true")
    return out[0], out[1]


REQUEST_SQL = f"""
    SELECT r.id, r.category, r.status, r.text, r.address, r.department, r.result, r.created_at, r.updated_at,
           r.due_at, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
           (SELECT e.note FROM request_event e WHERE e.request_id = r.id AND e.note IS NOT NULL
             ORDER BY e.seq DESC LIMIT 1) AS last_note
    FROM request r"""


def _view(r, rules: Rules, by_name: dict[str, str]) -> dict:
    """One request as a GeoReport v2 service request."""
    closed = r["status"] not in OPEN_STATUSES
    if r["status"] in ("fed_back", "evaluated") and r["result"]:
        notes = r["result"]
    elif r["status"] == "rejected":
        notes = r["last_note"]
    else:
        notes = STEP_NAMES.get(r["status"], r["status"])
    dept = r["department"] or (rules.department(r["category"]) if r["category"] in rules.categories else None)
    return {"service_request_id": r["id"], "status": "closed" if closed else "open", "status_notes": notes,
            "service_name": r["category"], "service_code": by_name.get(r["category"], r["category"]),
            "description": r["text"], "agency_responsible": dept, "service_notice": STEP_NAMES.get(r["status"]),
            "requested_datetime": stamp(r["created_at"]), "updated_datetime": stamp(r["updated_at"] or r["created_at"]),
            "expected_datetime": stamp(r["due_at"]), "address": r["address"], "address_id": None, "zipcode": None,
            "lat": r["lat"], "long": r["lon"], "media_url": None}


def parse_date(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or time (UTC when it names no zone); 400 naming the field."""
    if value is None or not value.strip():
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{field}: {value!r} is not an ISO 8601 date/time") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def find(session: Session, rules: Rules, *, ids: str | None = None, service_code: str | None = None,
         status: str | None = None, start_date: str | None = None, end_date: str | None = None,
         now: datetime | None = None) -> list[dict]:
    """GET requests: by ids (comma-separated), else by service_code, status (open/closed, comma-separated)
    and start/end date (default: the last 90 days), newest first, at most 1000."""
    by_code, by_name = codes(rules), {v: k for k, v in codes(rules).items()}
    where, params = [], {"limit": MAX_REQUESTS}
    if ids:
        try:
            params["ids"] = [int(x) for x in ids.split(",") if x.strip()]
        except ValueError:
            raise Open311Error(400, f"service_request_id: {ids!r} is not comma-separated numbers") from None
        where.append("r.id = ANY(:ids)")
    else:
        if service_code:
            cats = []
            for code in service_code.split(","):
                if code.strip() not in by_code:
                    raise Open311Error(404, f"service_code: no service {code.strip()!r}")
                cats.append(by_code[code.strip()])
            where.append("r.category = ANY(:cats)")
            params["cats"] = cats
        if status:
            wanted = {s.strip().lower() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, f"status: {status!r}; use open or closed")
            if wanted == {"open"}:
                where.append("r.status = ANY(:open)")
                params["open"] = list(OPEN_STATUSES)
            elif wanted == {"closed"}:
                where.append("r.status = ANY(:closed)")
                params["closed"] = list(CLOSED_STATUSES)
        start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date: before start_date")
        if start is None and end is None:
            start = (now or datetime.now(timezone.utc)) - timedelta(days=DEFAULT_DAYS)
        if start:
            where.append("r.created_at >= :start")
            params["start"] = start
        if end:
            where.append("r.created_at <= :end")
            params["end"] = end
    rows = session.execute(text(f"{REQUEST_SQL} WHERE {' AND '.join(where) or 'TRUE'} "
                                f"ORDER BY r.created_at DESC, r.id DESC LIMIT :limit"), params).mappings().all()
    return [_view(r, rules, by_name) for r in rows]


def one(session: Session, rules: Rules, rid: int) -> dict:
    """GET requests/{id}: the request, or 404."""
    rows = find(session, rules, ids=str(rid))
    if not rows:
        raise Open311Error(404, f"service_request_id: no request {rid}")
    return rows[0]


def discovery(base_url: str) -> dict:
    """The discovery document: this one endpoint, GeoReport v2, JSON and XML."""
    return {"changeset": "2026-11-23T00:00:00Z", "contact": "the city's grid management command center",
            "key_service": "an API key from the city's administrator (wangge keys create --role consumer)",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base_url,
                           "changeset": "2026-11-23T00:00:00Z", "type": "production",
                           "formats": ["application/json", "text/xml"]}]}


def _xml(tag: str, value, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        return [f"{pad}<{tag}>", *(line for k, v in value.items() for line in _xml(k, v, indent + 1)), f"{pad}</{tag}>"]
    if isinstance(value, list):
        return [f"{pad}<{tag}>", *(line for v in value for line in _xml(ITEM.get(tag, "item"), v, indent + 1)),
                f"{pad}</{tag}>"]
    if value is None:
        return [f"{pad}<{tag}></{tag}>"]
    if isinstance(value, bool):
        value = "true" if value else "false"
    return [f"{pad}<{tag}>{escape(str(value))}</{tag}>"]


def to_xml(root: str, value) -> str:
    """A document as GeoReport v2 XML: lists repeat their item element (services/service, ...)."""
    return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', *_xml(root, value, 0)]) + "\n"
