"""The token store port: where token hashes are kept.

Backends: a SQLite file (beside the store's files for ``sqlite://`` and
``memory://`` setups), a table of the PostgreSQL database, or memory (tests).

Example::

    tokens = await open_token_store("sqlite:///.eventflux/tokens.db")
    token, info = await tokens.create(Scope.READ, prefix="orders-")
    await tokens.revoke(info.id)
"""

from __future__ import annotations

import abc
import builtins
from datetime import UTC, datetime

from .model import Scope, TokenInfo, TokenRecord, check_prefix, new_token

__all__ = ["TokenStore"]


class TokenStore(abc.ABC):
    """Creates, lists and revokes tokens; keeps only their hashes."""

    #: where the tokens are kept, for messages
    location: str = ""

    async def create(self, scope: Scope, prefix: str = "", name: str = "") -> tuple[str, TokenInfo]:
        """Make a token; returns it (shown once, never stored) and its info.

        Example::

            token, info = await tokens.create(Scope.WRITE, prefix="orders-", name="shop")
        """
        if not isinstance(name, str) or len(name) > 255 or not name.isprintable():
            raise ValueError("a token name has at most 255 printable characters")
        token, record = new_token(scope, check_prefix(prefix), name)
        await self._insert(record)
        return token, record.info

    async def list(self, *, include_revoked: bool = False) -> builtins.list[TokenInfo]:
        """The tokens, oldest first (revoked ones too with ``include_revoked``)."""
        records = await self._records()
        return [r.info for r in records if include_revoked or r.info.active]

    async def records(self) -> builtins.list[TokenRecord]:
        """Every token's record, revoked ones included (for the server's cache)."""
        return await self._records()

    async def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False if no active token has that id."""
        return await self._revoke(token_id, datetime.now(UTC))

    def version(self) -> object:
        """A cheap marker that changes when the tokens change (None: unknown, so
        readers reload on a timer). The SQLite file's is its modification time."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the storage."""

    @abc.abstractmethod
    async def _insert(self, record: TokenRecord) -> None: ...

    @abc.abstractmethod
    async def _records(self) -> builtins.list[TokenRecord]: ...

    @abc.abstractmethod
    async def _revoke(self, token_id: str, when: datetime) -> bool: ...
