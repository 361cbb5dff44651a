"""API keys: random tokens, stored only as SHA-256 hashes, each with one role."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.vocab import ROLES

# What each role may do; the API checks a route's capability against this table. `report` = raise a
# request and follow it (apps, hotlines); `requests` = run the loop (command center, departments).
CAPABILITIES = {
    "consumer": {"read", "report"},
    "command": {"read", "report", "maps", "requests", "phones"},
    "planner": {"read", "maps", "redraw"},
    "admin": {"read", "report", "maps", "requests", "redraw", "phones", "admin"},
}


class UnknownRole(ValueError):
    """A key request that names an unknown role."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(session: Session, role: str) -> str:
    """Create a key with `role` and return it; only its hash is stored."""
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    key = "wg_" + secrets.token_urlsafe(24)
    session.execute(text("INSERT INTO api_key (prefix, key_hash, role, revoked) VALUES (:p, :h, :r, false)"),
                    {"p": key[:10], "h": _hash(key), "r": role})
    return key


def role_of(session: Session, key: str | None) -> str | None:
    """The role of a valid, unrevoked key, else None."""
    if not key:
        return None
    return session.execute(text("SELECT role FROM api_key WHERE key_hash = :h AND NOT revoked"),
                           {"h": _hash(key)}).scalar()


def allows(role: str, capability: str) -> bool:
    """Whether a key of `role` may use `capability` (read, maps, redraw, …)."""
    return capability in CAPABILITIES.get(role, set())
