"""The dead-letter queue of a bus: ``bus.dlq``.

Messages a group gave up on (``max_deliver`` failed deliveries, ``Reject``,
undecodable bytes) wait here with their last error until they are retried or
purged. A retried letter goes back to its own group with a fresh delivery
budget and leaves the queue once handled.

Example::

    for letter in await bus.dlq.list(group="payments"):
        print(letter.id, letter.subject, letter.error, letter.deliveries)
    await bus.dlq.retry(letter.id)
    await bus.dlq.purge(group="payments")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import DeadLetterNotFoundError
from .message import DeadLetter
from .subjects import validate_group, validate_subject

if TYPE_CHECKING:
    from .base import MessageBus

__all__ = ["DeadLetterQueue"]


class DeadLetterQueue:
    """List, retry and purge dead letters (from code, the CLI or the dashboard)."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    async def list(
        self, group: str | None = None, subject: str | None = None, *, limit: int | None = None
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; ``subject`` may be a pattern (``orders.*``)."""
        self._bus._check_open()
        if group is not None:
            validate_group(group)
        if subject is not None:
            validate_subject(subject, pattern=True)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError(f"limit must be an int, not {limit!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return await self._bus._dlq_list(group, subject, limit)

    async def retry(self, letter_id: str) -> None:
        """Send the letter's message back to its group with a fresh budget.

        Raises :class:`DeadLetterNotFoundError` for an unknown id.
        """
        self._bus._check_open()
        if not isinstance(letter_id, str):
            raise TypeError(f"a dead letter id is a str, not {type(letter_id).__name__}")
        if not await self._bus._dlq_retry(letter_id):
            raise DeadLetterNotFoundError(letter_id)

    async def retry_all(self, group: str | None = None, subject: str | None = None) -> int:
        """Retry every letter (of one group, matching a subject pattern); returns how many."""
        letters = await self.list(group, subject)
        count = 0
        for letter in letters:
            if await self._bus._dlq_retry(letter.id):
                count += 1
        return count

    async def purge(self, group: str | None = None) -> int:
        """Delete the dead letters (of one group); returns how many were deleted."""
        self._bus._check_open()
        if group is not None:
            validate_group(group)
        return await self._bus._dlq_purge(group)

    async def count(self, group: str | None = None) -> int:
        """How many dead letters there are (in one group)."""
        return len(await self.list(group))
