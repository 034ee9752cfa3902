"""API keys of the market's parties: generated once, stored only as a salted scrypt hash.

A key reads ``lfx_<key_id>_<secret>``: ``key_id`` (public, 12 hex digits) finds the stored
credential, ``secret`` (32 random bytes, urlsafe base64) is checked against
``scrypt(secret, salt, n=2**14, r=8, p=1)`` with a constant-time comparison. The plain key is
returned once by ``new_api_key`` and never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = ["NewKey", "hash_secret", "new_api_key", "split_api_key", "verify_secret"]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
_PREFIX = "lfx"


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    api_key: str  # shown once
    salt: str
    key_hash: str


def hash_secret(secret: str, salt_hex: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT).hex()


def new_api_key() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(key_id, f"{_PREFIX}_{key_id}_{secret}", salt, hash_secret(secret, salt))


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def verify_secret(secret: str, salt_hex: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt_hex), key_hash)
