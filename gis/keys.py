"""API keys: random tokens, stored only as SHA-256 hashes, each with one role."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.vocab import ROLES

# What each role may do; the API checks a route's capability against this table. `report` = raise a
# request and follow it (apps, hotlines); `requests` = run the loop (command center, departments);
# `people` = list who is assigned where (phones still masked without `phones`).
CAPABILITIES = {
    "consumer": {"read", "report"},
    "command": {"read", "report", "maps", "requests", "phones", "people"},
    "planner": {"read", "maps", "redraw", "people"},
    "admin": {"read", "report", "maps", "requests", "redraw", "phones", "people", "admin"},
}


class UnknownRole(ValueError):
    """A key request that names an unknown role."""


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored, looked up and cached."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(session: Session, role: str) -> str:
    """Create a key with `role` and return it; only its hash is stored."""
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    key = "wg_" + secrets.token_urlsafe(24)
    session.execute(text("INSERT INTO api_key (prefix, key_hash, role, revoked) VALUES (:p, :h, :r, false)"),
                    {"p": key[:10], "h": hash_key(key), "r": role})
    return key


def role_of(session: Session, key: str | None) -> str | None:
    """The role of a valid, unrevoked key, else None."""
    if not key:
        return None
    return role_of_hash(session, hash_key(key))


def role_of_hash(session: Session, digest: str) -> str | None:
    """The role of the unrevoked key stored under `digest`, else None. The index finds the row by hash;
    the stored hash is then compared in constant time, so no step compares a secret byte by byte."""
    row = session.execute(text("SELECT key_hash, role FROM api_key WHERE key_hash = :h AND NOT revoked"),
                          {"h": digest}).first()
    if row is None or not hmac.compare_digest(row[0].encode("ascii"), digest.encode("ascii")):
        return None
    return row[1]


def revoke(session: Session, key: str) -> bool:
    """Revoke a key (it stops working within the cache time, WANGGE_KEY_CACHE_S); False if unknown."""
    return session.execute(text("UPDATE api_key SET revoked = true WHERE key_hash = :h"),
                           {"h": hash_key(key)}).rowcount > 0


def allows(role: str, capability: str) -> bool:
    """Whether a key of `role` may use `capability` (read, maps, redraw, …)."""
    return capability in CAPABILITIES.get(role, set())
