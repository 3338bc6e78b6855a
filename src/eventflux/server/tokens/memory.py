"""Tokens kept in this process's memory (tests and embedded servers).

Example::

    tokens = MemoryTokenStore()
    token, info = await tokens.create(Scope.ADMIN)
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from .base import TokenStore
from .model import TokenRecord

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore(TokenStore):
    """A token store in a dict; gone when the process ends."""

    location = "memory"

    def __init__(self) -> None:
        self._records_by_id: dict[str, TokenRecord] = {}
        self._changes = 0

    def version(self) -> object:
        return self._changes

    async def _insert(self, record: TokenRecord) -> None:
        self._records_by_id[record.info.id] = record
        self._changes += 1

    async def _records(self) -> list[TokenRecord]:
        return list(self._records_by_id.values())

    async def _revoke(self, token_id: str, when: datetime) -> bool:
        record = self._records_by_id.get(token_id)
        if record is None or not record.info.active:
            return False
        info = dataclasses.replace(record.info, revoked_at=when)
        self._records_by_id[token_id] = TokenRecord(info, record.secret_hash)
        self._changes += 1
        return True
