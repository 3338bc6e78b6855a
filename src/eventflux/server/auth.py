"""Who is calling: bearer tokens, scopes and prefixes.

Every request carries ``Authorization: Bearer <token>`` (the dashboard keeps
the token in an HttpOnly cookie instead). A server bound to loopback with no
tokens is *open*: every caller is an admin without a prefix. A server bound
elsewhere never is, and revoking every token does not reopen one.

Example::

    principal = await request.app.state.eventflux.auth.require(request, Scope.WRITE)
    principal.check_name(stream)      # 403 outside the token's prefix
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..exceptions import EventfluxError
from .errors import ApiError
from .settings import ServerSettings, is_loopback
from .tokens import Scope, TokenRecord, TokenStore, split_token

__all__ = [
    "Authenticator",
    "COOKIE",
    "Principal",
    "TokenVerifier",
    "header",
    "narrow_prefix",
    "pattern_head",
]

#: the cookie the dashboard keeps its token in
COOKIE: Final = "eventflux_token"
_CHALLENGE: Final = 'Bearer realm="eventflux"'
_MISS_REFRESH: Final = 0.1
#: how often the token store's change marker is looked at (a file's stat is not free)
_VERSION_EVERY: Final = 0.1


def narrow_prefix(scope_prefix: str, requested: str | None) -> str | None:
    """The prefix that covers what both allow, or None when they share nothing.

    ``narrow_prefix("orders-", "orders-eu")`` is ``"orders-eu"``;
    ``narrow_prefix("orders-", "")`` is ``"orders-"``;
    ``narrow_prefix("orders-", "users-")`` is None.
    """
    wanted = requested or ""
    if wanted.startswith(scope_prefix):
        return wanted
    if scope_prefix.startswith(wanted):
        return scope_prefix
    return None


def pattern_head(pattern: str) -> str:
    """The literal start every subject matching ``pattern`` shares:
    ``"orders.*"`` -> ``"orders."``, ``"orders.created"`` -> ``"orders.created"``."""
    head: list[str] = []
    for token in pattern.split("."):
        if token in ("*", ">"):
            return ".".join(head) + "." if head else ""
        head.append(token)
    return pattern


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: its token id (None on an open server), scope and prefix."""

    token_id: str | None
    scope: Scope
    prefix: str = ""
    via_cookie: bool = False

    @property
    def key(self) -> str:
        """What connection limits count by: the token id, or ``"open"``."""
        return self.token_id or "open"

    @property
    def open(self) -> bool:
        return self.token_id is None

    def covers(self, name: str) -> bool:
        """True if the stream name or subject is within the token's prefix."""
        return name.startswith(self.prefix)

    def check_name(self, name: str, what: str = "stream") -> None:
        """Raise 403 if ``name`` is outside the token's prefix."""
        if not name.startswith(self.prefix):
            raise ApiError(
                403,
                "Forbidden",
                f"this token is limited to {what}s starting with {self.prefix!r}",
                prefix=self.prefix,
            )

    def check_scope(self, needed: Scope) -> None:
        """Raise 403 if the token's scope does not include ``needed``."""
        if not self.scope.includes(needed):
            raise ApiError(
                403,
                "Forbidden",
                f"this needs a token with scope {needed.value!r} "
                f"(this one has {self.scope.value!r})",
                scope=self.scope.value,
                needed=needed.value,
            )


class TokenVerifier:
    """Checks tokens against a cache of the token records, reloaded when the
    store says they changed (the SQLite file's modification time: at once) and
    at least every ``refresh`` seconds (PostgreSQL: a token revoked elsewhere
    stops working within that time; one created elsewhere works within 0.1 s)."""

    def __init__(self, store: TokenStore | None, refresh: float) -> None:
        self._store = store
        self._refresh = refresh
        self._by_id: dict[str, TokenRecord] = {}
        self._any = False
        self._version: object = None
        self._checked = float("-inf")
        self._loaded = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the cache (after a change made through this process)."""
        self._loaded = float("-inf")

    def _stale(self, max_age: float, *, look: bool = False) -> bool:
        """True if the cache must be reloaded: the store's change marker moved
        (looked at every 0.1 s, or now with ``look``), or it is older than ``max_age``."""
        assert self._store is not None
        now = time.monotonic()
        if look or now - self._checked >= _VERSION_EVERY:
            self._checked = now
            version = self._store.version()
            if version is not None and version != self._version:
                return True  # a token was created or revoked: reload now
        return now - self._loaded > max_age

    async def _ensure(self, max_age: float) -> None:
        if self._store is None or not self._stale(max_age):
            return
        async with self._lock:
            if not self._stale(max_age, look=True):
                return  # another request reloaded it meanwhile
            version = self._store.version()
            try:
                records = await self._store.records()
            except (EventfluxError, OSError) as e:
                raise ApiError(503, "Unavailable", f"the token store cannot be read: {e}") from None
            self._by_id = {r.info.id: r for r in records if r.info.active}
            self._any = bool(records)
            self._version = version
            self._loaded = time.monotonic()

    async def any_token(self) -> bool:
        """True once a token was created (revoking every token does not reopen a server)."""
        await self._ensure(self._refresh)
        return self._any

    async def verify(self, token: str) -> TokenRecord | None:
        """The record of ``token`` if it is active and its secret matches."""
        parts = split_token(token) if len(token) < 200 else None
        if parts is None:
            return None
        await self._ensure(self._refresh)
        record = self._by_id.get(parts[0])
        if record is None:
            await self._ensure(_MISS_REFRESH)
            record = self._by_id.get(parts[0])
        return record if record is not None and record.matches(token) else None


def header(conn: HTTPConnection, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), from a map of the
    request's headers made once per request (auth reads several)."""
    scope = conn.scope
    found: dict[bytes, bytes] | None = scope.get("eventflux.headers")
    if found is None:
        found = scope["eventflux.headers"] = dict(reversed(scope["headers"]))
    value = found.get(name)
    return None if value is None else value.decode("latin-1")


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = _CHALLENGE if error is None else f'{_CHALLENGE}, error="{error}"'
    return ApiError(401, "Unauthorized", message, headers={"WWW-Authenticate": challenge})


class Authenticator:
    """Turns a request into a :class:`Principal`, or a 401."""

    def __init__(self, tokens: TokenStore | None, settings: ServerSettings) -> None:
        self.verifier = TokenVerifier(tokens, settings.token_refresh)
        self.settings = settings
        self.has_store = tokens is not None

    async def is_open(self) -> bool:
        """True while the server needs no token: bound to loopback, and no token
        was ever created (revoked ones count: revoking does not reopen it)."""
        return self.settings.loopback and not await self.verifier.any_token()

    async def identify(self, conn: HTTPConnection, token: str | None = None) -> Principal:
        """The caller of ``conn`` (a request or a WebSocket); ``token`` overrides
        the header and the cookie (the WebSocket ``auth`` frame)."""
        if await self.is_open():
            self._check_local_host(conn)
            return Principal(None, Scope.ADMIN)
        via_cookie = False
        if token is None:
            given = header(conn, b"authorization")
            if given is not None:
                kind, _, value = given.partition(" ")
                if kind.lower() != "bearer" or not value.strip():
                    raise _unauthorized(
                        "the Authorization header must be 'Bearer <token>'", "invalid_request"
                    )
                token = value.strip()
            else:
                token = conn.cookies.get(COOKIE)
                via_cookie = token is not None
        if token is None:
            raise _unauthorized(
                "this server needs a token: send 'Authorization: Bearer <token>' "
                "(create one with: eventflux token create --scope read)"
            )
        record = await self.verifier.verify(token)
        if record is None:
            raise _unauthorized("the token is not valid (unknown or revoked)", "invalid_token")
        info = record.info
        principal = Principal(info.id, info.scope, info.prefix, via_cookie)
        if via_cookie:
            self._check_same_origin(conn)
        return principal

    async def require(self, conn: HTTPConnection, scope: Scope) -> Principal:
        """The caller, who must have ``scope`` (else 401 or 403)."""
        principal = await self.identify(conn)
        principal.check_scope(scope)
        return principal

    def _check_same_origin(self, conn: HTTPConnection) -> None:
        # Browsers send Origin (and Sec-Fetch-Site) with cross-site requests: a page
        # elsewhere must not use this server's cookie or its openness.
        if header(conn, b"sec-fetch-site") == "cross-site":
            raise ApiError(403, "Forbidden", "cross-site requests are refused")
        origin = header(conn, b"origin")
        if origin is None:
            return
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            netloc = ""
        if netloc != (header(conn, b"host") or "").lower():
            raise ApiError(403, "Forbidden", "cross-site requests are refused")

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _local_name(host: str, extra: tuple[str, ...]) -> bool:
        try:
            name = urlsplit("//" + host).hostname or ""
        except ValueError:
            return False
        return is_loopback(name) or name in extra

    def _check_local_host(self, conn: HTTPConnection) -> None:
        # An open server answers only to loopback names: a page whose own name
        # resolves to 127.0.0.1 (DNS rebinding) must not reach it.
        host = header(conn, b"host") or ""
        if not self._local_name(host, self.settings.extra_hosts):
            raise ApiError(
                403,
                "Forbidden",
                f"this server is open (no tokens) and answers only to loopback names, "
                f"not {host!r}; create a token with: eventflux token create --scope admin",
            )
        self._check_same_origin(conn)
