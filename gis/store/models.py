"""The record, as SQLAlchemy 2 + GeoAlchemy2 models (the Alembic migrations create exactly these tables).

Areas are immutable geometry rows; a generation says which areas (with which parent) make up the map
at one time, MapIt-style, so a redraw never edits a boundary in place and old maps stay queryable.
"""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    CHAR, BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, ForeignKeyConstraint, Index,
    Integer, SmallInteger, String, Text, UniqueConstraint, func, text,
)
from sqlalchemy import text as _sql  # the Request model has a column named `text`
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis.store.queries import OPEN_SQL, sql_list
from gis.vocab import LEVELS, REQUEST_STATUSES, ROLES, STATION_KIND_MAX


class Base(DeclarativeBase):
    """The declarative base of every table (Alembic compares migrations with its metadata)."""
    pass


class Generation(Base):
    """One version of the whole map; `state` draft → committed; one committed generation is active."""

    __tablename__ = "generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    based_on: Mapped[int | None] = mapped_column(ForeignKey("generation.id"))
    state: Mapped[str] = mapped_column(String(16), default="committed", server_default="committed")
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (CheckConstraint("state IN ('draft', 'committed')", name="generation_state"),)


class ActiveGeneration(Base):
    """A single row naming the generation that locate answers with."""

    __tablename__ = "active_generation"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint("id = 1", name="active_generation_single"),)


class GenerationActivation(Base):
    """Every time a generation became the active one (imports, commits, rollbacks), so "which grid
    answered for this place on a date" can be asked (`at=`)."""

    __tablename__ = "generation_activation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (Index("generation_activation_at", "at"),)


class Area(Base):
    """An immutable boundary at one level; shared by every generation that includes it."""

    __tablename__ = "area"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    properties: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    # md5 of the normalized boundary's WKB: a write with the same level, ground, name and households
    # reuses this row, so the area keeps its id (its identity) in every generation where its ground is the same
    ground: Mapped[str | None] = mapped_column(CHAR(32))
    __table_args__ = (
        CheckConstraint(f"level IN ({sql_list(LEVELS)})", name="area_level"),
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="area_geom_valid"),
        Index("area_geom_gist", "geom", postgresql_using="gist"),
        Index("area_level_code", "level", "code"),
        Index("area_level_ground", "level", "ground"),
    )


class GridTier(Base):
    """One tier of the city's grids (大网格/小网格, 小区网格/楼栋网格): its name, the digits it adds to its
    parent's code, and whether its grids must cover their parent grid without gaps."""

    __tablename__ = "grid_tier"
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    digits: Mapped[int] = mapped_column(SmallInteger)
    nests: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    __table_args__ = (CheckConstraint("tier BETWEEN 1 AND 9", name="grid_tier_range"),
                      CheckConstraint("digits BETWEEN 1 AND 6", name="grid_tier_digits"))


class GenerationArea(Base):
    """Membership of an area in a generation, with its code (a label) and parent there; codes unique
    per generation and level. A grid has a tier: tier 1 hangs under a community, tier k under a grid."""

    __tablename__ = "generation_area"
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"), primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    parent_level: Mapped[str | None] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    tier: Mapped[int | None] = mapped_column(SmallInteger)
    __table_args__ = (
        UniqueConstraint("generation_id", "level", "code", name="generation_area_code"),
        ForeignKeyConstraint(
            ["generation_id", "parent_level", "parent_code"],
            ["generation_area.generation_id", "generation_area.level", "generation_area.code"],
            name="generation_area_parent", deferrable=True, initially="DEFERRED", ondelete="CASCADE",
        ),
        CheckConstraint(
            "(level = 'district') = (parent_code IS NULL)", name="generation_area_parent_needed"),
        CheckConstraint("(level = 'grid') = (tier IS NOT NULL)", name="generation_area_tier"),
        CheckConstraint("level <> 'grid' OR (tier = 1 AND parent_level = 'community') "
                        "OR (tier > 1 AND parent_level = 'grid')", name="generation_area_grid_parent"),
        Index("generation_area_gen_level", "generation_id", "level"),
    )


class Role(Base):
    """A role a person can hold for an area; the city extends the builtin list (volunteer, mediator, …)."""

    __tablename__ = "role"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    roams: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    __table_args__ = (CheckConstraint("code ~ '^[a-z][a-z0-9_]{0,31}$'", name="role_code"),)


class Person(Base):
    """A person or department; phone stored in full and masked in answers unless the role allows."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    organisation: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))


class Assignment(Base):
    """Who answers for an area in which role, by area id (its identity; `area_code` is the label it
    was assigned with), so a re-coding moves no one."""

    __tablename__ = "assignment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(ForeignKey("role.code", name="assignment_role", onupdate="CASCADE"))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", name="assignment_area"))
    level: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (Index("assignment_area", "area_id"), Index("assignment_person", "person_id"))


class Address(Base):
    """The standard address registry: one row per addressable building entrance, with households."""

    __tablename__ = "address"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    components: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    building_code: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="import", server_default="import")
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    __table_args__ = (
        CheckConstraint("households >= 0", name="address_households"),
        Index("address_geom_gist", "geom", postgresql_using="gist"),
    )


class Station(Base):
    """A service station (党群服务中心, 便民服务站, 红色驿站)."""

    __tablename__ = "station"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(STATION_KIND_MAX))
    address: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    __table_args__ = (Index("station_geom_gist", "geom", postgresql_using="gist"),)


class NetworkEdge(Base):
    """A walkable edge between two network nodes, with its length in metres."""

    __tablename__ = "network_edge"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(String(32))
    length_m: Mapped[float] = mapped_column(Float)
    geom = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False)
    __table_args__ = (Index("network_edge_geom_gist", "geom", postgresql_using="gist"),)


class Request(Base):
    """A resident request (居民点单), with the generation and codes it was located with, its colour and
    deadline, and where it stands in the nine-step loop (`version` is bumped by every step)."""

    __tablename__ = "request"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    category: Mapped[str] = mapped_column(Text)
    matter_class: Mapped[str] = mapped_column(String(16))
    importance: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    urgency: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="collected", server_default="collected")
    generation_id: Mapped[int | None] = mapped_column(ForeignKey("generation.id"))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    grid_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))  # the areas it was located in
    unit_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    address: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    colour: Mapped[str] = mapped_column(String(8), default="blue", server_default="blue")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    department: Mapped[str | None] = mapped_column(Text)
    assignees: Mapped[list] = mapped_column(JSONB, default=list, server_default=_sql("'[]'::jsonb"))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str | None] = mapped_column(Text)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    feedback: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("matter_class IN ('public','shared','private')", name="request_matter_class"),
        CheckConstraint("colour IN ('red','orange','yellow','blue')", name="request_colour"),
        CheckConstraint(f"status IN ({sql_list(REQUEST_STATUSES)})", name="request_status"),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="request_satisfaction"),
        Index("request_grid_time", "grid_code", "created_at"),
        Index("request_grid_area_time", "grid_area_id", "created_at"),
        Index("request_time", "created_at"),
        Index("request_open_due", "due_at", postgresql_where=_sql(f"status IN ({OPEN_SQL})")),
    )


class RequestEvent(Base):
    """One step of one request: who, when, from which status to which, and a note. Append-only (a
    trigger refuses UPDATE and DELETE); `seq` is the request's version after the step."""

    __tablename__ = "request_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    __table_args__ = (UniqueConstraint("request_id", "seq", name="request_event_seq"),)


class RequestWhistle(Base):
    """A department summoned when the street blows the whistle (街道吹哨、部门报到); it must acknowledge."""

    __tablename__ = "request_whistle"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id"))
    department: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    raised_by: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("request_id", "department", name="request_whistle_department"),)


class Crosswalk(Base):
    """What a code or an area became in a generation: a re-coding (same area, new code), a redraw or
    import (the old area's ground went to new areas, `share` each) or a merge (a source network's code)."""

    __tablename__ = "crosswalk"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(Text)
    from_code: Mapped[str] = mapped_column(String(64))
    from_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    to_code: Mapped[str] = mapped_column(String(32))
    to_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    share: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("kind IN ('recode','redraw','merge','import')", name="crosswalk_kind"),
        CheckConstraint("share IS NULL OR share BETWEEN 0 AND 1", name="crosswalk_share"),
        Index("crosswalk_from", "from_code"), Index("crosswalk_to", "to_code"),
        Index("crosswalk_generation", "generation_id"),
    )


class Estate(Base):
    """A residential estate (小区): not part of the hierarchy; the automatic redraw keeps each whole."""

    __tablename__ = "estate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    properties: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    __table_args__ = (
        CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="estate_geom_valid"),
        CheckConstraint("households >= 0", name="estate_households"),
        Index("estate_geom_gist", "geom", postgresql_using="gist"),
    )


class ApiKey(Base):
    """An API key, stored as its SHA-256 hash only; the prefix identifies it in logs."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    __table_args__ = (CheckConstraint(f"role IN ({sql_list(ROLES)})", name="api_key_role"),)


class AuditLog(Base):
    """Append-only record of who changed what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))


class Poi(Base):
    """A point of interest from OpenStreetMap (shops, schools, clinics...), as a point."""

    __tablename__ = "poi"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    __table_args__ = (Index("poi_geom_gist", "geom", postgresql_using="gist"),)


class ServiceCircle(Base):
    """A station's N-minute walking circle, stored per network version and speed."""

    __tablename__ = "service_circle"
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"), primary_key=True)
    minutes: Mapped[float] = mapped_column(Float, primary_key=True)
    speed_m_s: Mapped[float] = mapped_column(Float, primary_key=True)
    network_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class Redraw(Base):
    """A planner's proposal: a draft generation, its validation findings and its impact report."""

    __tablename__ = "redraw"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str] = mapped_column(String(32))
    based_on: Mapped[int | None] = mapped_column(ForeignKey("generation.id"))
    draft_generation: Mapped[int | None] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    valid: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="proposed", server_default="proposed")
    findings: Mapped[list] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    impact: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    proposal: Mapped[dict | None] = mapped_column(JSONB, nullable=True)  # the features of an invalid proposal
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("status IN ('proposed', 'committed')", name="redraw_status"),)


class Visit(Base):
    """One visit, patrol or check by a person in the grid (入户问需, 走访, 巡查, 摸排): when it happened (`at`,
    from the client) and when it arrived, where (checked against the visitor's own areas: `outside_grid`
    flags one outside them, unless the visitor's role roams), the units visited, what was found and the
    request it became. `idempotency_key` (client-made) stores a resent visit once."""

    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="visit", server_default="visit")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    generation_id: Mapped[int | None] = mapped_column(ForeignKey("generation.id"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))  # the grid the point lies in
    grid_code: Mapped[str | None] = mapped_column(String(32))
    outside_grid: Mapped[bool] = mapped_column(Boolean)
    unit_area_ids: Mapped[list] = mapped_column(ARRAY(BigInteger), default=list, server_default=text("'{}'"))
    households: Mapped[int | None] = mapped_column(Integer)
    found: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("request.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    __table_args__ = (
        CheckConstraint("kind IN ('visit','patrol','check')", name="visit_kind"),
        CheckConstraint("households IS NULL OR households >= 0", name="visit_households"),
        Index("visit_area_at", "area_id", "at"), Index("visit_person_at", "person_id", "at"),
        Index("visit_at", "at"), Index("visit_units", "unit_area_ids", postgresql_using="gin"),
        Index("visit_request", "request_id"),
    )


class Pledge(Base):
    """A public pledge (承诺践诺) of a person who reports to a grid, and whether it was kept."""

    __tablename__ = "pledge"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default="made", server_default="made")
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("state IN ('made','kept','broken')", name="pledge_state"),
        CheckConstraint("(state = 'made') = (settled_at IS NULL)", name="pledge_settled"),
        Index("pledge_person", "person_id"),
    )


class FlagRule(Base):
    """What earns red flags (积旗制) and how many, as data like the colour table; a city edits the rows."""

    __tablename__ = "flag_rule"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    min_satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    flags: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    __table_args__ = (
        CheckConstraint("kind IN ('finished','on_time','satisfied','found')", name="flag_rule_kind"),
        CheckConstraint("flags BETWEEN 0 AND 100", name="flag_rule_flags"),
        CheckConstraint("(kind = 'satisfied') = (min_satisfaction IS NOT NULL)", name="flag_rule_satisfaction"),
    )


class Flag(Base):
    """Flags one person earned for one finished request under one rule (once each), dated when it finished."""

    __tablename__ = "flag"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    request_id: Mapped[int] = mapped_column(ForeignKey("request.id", ondelete="CASCADE"))
    rule_code: Mapped[str] = mapped_column(ForeignKey("flag_rule.code", onupdate="CASCADE"))
    flags: Mapped[int] = mapped_column(SmallInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("person_id", "request_id", "rule_code", name="flag_once"),
        Index("flag_at", "at"), Index("flag_person_at", "person_id", "at"),
    )


class PiiAccessLog(Base):
    """Every read of personal data by staff (PIPL): who (role and key prefix), when, what, for which purpose."""

    __tablename__ = "pii_access_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    what: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    subjects: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    __table_args__ = (Index("pii_access_log_at", "at"),)
