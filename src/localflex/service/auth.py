"""Who is calling: per-party API keys (``Authorization: Bearer <key>`` or ``X-API-Key``).

Keys are stored as salted scrypt hashes (``localflex.store.credentials``). Checking scrypt
costs ~50 ms, so a key verified once is remembered in memory by its SHA-256 for
``CACHE_SECONDS`` (revoking a key clears the cache); the plain key is never stored.
Roles (paper §6, Table 2): the DSO buys for its congestion points, aggregators sell, BRPs
and the TSO trade in the continuous market, the market operator runs gates and parties.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from localflex.domain import Role
from localflex.service.errors import BadRequest, Forbidden, Unauthorized
from localflex.store import Database, split_api_key, verify_secret
from localflex.store.models import Credential, Party

__all__ = ["Caller", "KeyCache", "authenticate", "cached_caller", "require_role"]

CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Caller:
    party_id: str
    role: Role
    key_id: str


class KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[Caller, float]] = {}

    def get(self, digest: bytes) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, digest: bytes, caller: Caller) -> None:
        with self._lock:
            self._entries[digest] = (caller, time.monotonic() + CACHE_SECONDS)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _key_from_headers(authorization: str | None, x_api_key: str | None) -> str:
    """The one API key of the request; two different ones (``X-API-Key`` and ``Bearer``)
    are ambiguous (400), not served as either."""
    bearer = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            bearer = token.strip()
    key = x_api_key.strip() if x_api_key else None
    if key and bearer and key != bearer:
        raise BadRequest("X-API-Key", "two different API keys",
                         "one API key: X-API-Key or Authorization: Bearer, not both")
    if key or bearer:
        return key or bearer
    raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")


def _digest(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode("utf-8", "replace")).digest()


def cached_caller(cache: KeyCache, authorization: str | None,
                  x_api_key: str | None) -> Caller | None:
    """The caller of a key verified recently (no store read, no scrypt), else None;
    401 if the request carries no key at all."""
    return cache.get(_digest(_key_from_headers(authorization, x_api_key)))


def authenticate(db: Database, cache: KeyCache, authorization: str | None,
                 x_api_key: str | None) -> Caller:
    api_key = _key_from_headers(authorization, x_api_key)
    digest = _digest(api_key)
    caller = cache.get(digest)
    if caller is not None:
        return caller
    parts = split_api_key(api_key)
    if parts is None:
        raise Unauthorized("unknown API key")
    key_id, secret = parts
    with db.read() as session:
        row = session.execute(
            select(Credential, Party.role).join(Party, Party.party_id == Credential.party_id)
            .where(Credential.key_id == key_id)
        ).first()
    if row is None or row[0].revoked_at is not None:
        raise Unauthorized("unknown API key")
    cred, role = row
    if not verify_secret(secret, cred.salt, cred.key_hash):
        raise Unauthorized("unknown API key")
    caller = Caller(cred.party_id, Role(role), key_id)
    cache.put(digest, caller)
    return caller


def require_role(caller: Caller, action: str, *roles: Role) -> None:
    if caller.role not in roles:
        raise Forbidden(caller.role.value, action)
