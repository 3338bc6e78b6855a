"""API tokens: scopes, what is kept of a token, and the token format.

A token reads ``efx_<id>_<secret>``. Only the SHA-256 hash of the secret is
kept; the id names the token in ``eventflux token list`` and ``revoke``.
Secrets are 256 random bits, so a plain hash (no slow KDF) is enough, and a
comparison runs in constant time.

Example::

    token, record = new_token(Scope.WRITE, prefix="orders-")
    assert record.matches(token)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "Scope",
    "TokenInfo",
    "TokenRecord",
    "check_prefix",
    "hash_secret",
    "new_token",
    "split_token",
]

TOKEN_PREFIX: Final = "efx"


class Scope(enum.Enum):
    """What a token may do; scopes nest: ``admin`` > ``write`` > ``read``.

    ``read`` reads streams, events, dead letters and live feeds; ``write`` also
    appends, publishes and joins consumer groups; ``admin`` also retries and
    purges dead letters (and, with the App, rebuilds projections).
    """

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Scope) -> bool:
        """True if this scope allows what ``other`` allows."""
        return self.rank >= other.rank


_RANKS: Final = {Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What ``token list`` shows: never the secret, never its hash."""

    id: str
    scope: Scope
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token: its info and the hash of its secret."""

    info: TokenInfo
    secret_hash: str

    def matches(self, token: str) -> bool:
        """True if ``token`` is this record's token (constant-time comparison)."""
        parts = split_token(token)
        if parts is None or parts[0] != self.info.id:
            return False
        return hmac.compare_digest(hash_secret(parts[1]), self.secret_hash)


def hash_secret(secret: str) -> str:
    """The hex SHA-256 of a token's secret part."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def check_prefix(prefix: object) -> str:
    """A token prefix: a str of at most 255 characters without control characters."""
    if not isinstance(prefix, str):
        raise TypeError(f"a token prefix is a str, not {type(prefix).__name__}")
    if len(prefix) > 255 or not prefix.isprintable():
        raise ValueError("a token prefix has at most 255 printable characters")
    return prefix


def new_token(scope: Scope, prefix: str = "", name: str = "") -> tuple[str, TokenRecord]:
    """A fresh token and the record to keep of it."""
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, not {scope!r}")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    info = TokenInfo(token_id, scope, check_prefix(prefix), name, datetime.now(UTC))
    return f"{TOKEN_PREFIX}_{token_id}_{secret}", TokenRecord(info, hash_secret(secret))
