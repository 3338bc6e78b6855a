"""The dead-letter queue of a bus: ``bus.dlq``.

Messages a group gave up on (``max_deliver`` failed deliveries, ``Reject``,
undecodable bytes) wait here with their last error until they are retried or
purged. A retried letter goes back to its own group with a fresh delivery
budget and leaves the queue once handled. The queue works on the public
backend interface (:class:`~eventflux.bus.backend.BusBackend`).

Example::

    for letter in await bus.dlq.list(group="payments"):
        print(letter.id, letter.subject, letter.error, letter.deliveries)
    await bus.dlq.retry(letter.id)
    await bus.dlq.purge(group="payments")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..codec import loads
from ..exceptions import DeadLetterNotFoundError
from .backend import BusBackend, StoredLetter
from .message import DeadLetter
from .subjects import compile_pattern, validate_group, validate_subject

__all__ = ["DeadLetterQueue", "dead_letter"]


def _letter_data(raw: bytes) -> Any:
    """A dead letter's payload: decoded, or the raw bytes when it cannot be."""
    try:
        return loads(raw)
    except Exception:
        return bytes(raw)


def dead_letter(stored: StoredLetter) -> DeadLetter:
    """The public view of a stored letter (its data decoded when it can be)."""
    return DeadLetter(
        stored.id,
        stored.group,
        stored.subject,
        _letter_data(stored.data),
        stored.msg_id,
        stored.key,
        stored.error,
        stored.deliveries,
        datetime.fromtimestamp(stored.dead_at, UTC),
    )


class DeadLetterQueue:
    """List, retry and purge dead letters (from code, the CLI or the dashboard).

    ``check_open`` raises :class:`~eventflux.BusClosedError` once the bus is closed.
    """

    def __init__(self, backend: BusBackend, check_open: Callable[[], None]) -> None:
        self._backend = backend
        self._check_open = check_open

    async def list(
        self, group: str | None = None, subject: str | None = None, *, limit: int | None = None
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; ``subject`` may be a pattern (``orders.*``).

        Example::

            letters = await bus.dlq.list(group="payments", subject="orders.>", limit=10)
        """
        self._check_open()
        if group is not None:
            validate_group(group)
        if subject is not None:
            validate_subject(subject, pattern=True)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError(f"limit must be an int, not {limit!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        match = compile_pattern(subject) if subject is not None else None
        out: list[DeadLetter] = []
        for stored in await self._backend.list_letters(group):
            if match is not None and not match(stored.subject):
                continue
            if limit is not None and len(out) >= limit:
                break
            out.append(dead_letter(stored))
        return out

    async def retry(self, letter_id: str) -> None:
        """Send the letter's message back to its group with a fresh budget.

        Raises :class:`DeadLetterNotFoundError` for an unknown id.
        """
        self._check_open()
        if not isinstance(letter_id, str):
            raise TypeError(f"a dead letter id is a str, not {type(letter_id).__name__}")
        if not await self._backend.retry_letter(letter_id):
            raise DeadLetterNotFoundError(letter_id)

    async def retry_all(self, group: str | None = None, subject: str | None = None) -> int:
        """Retry every letter (of one group, matching a subject pattern); returns how many."""
        letters = await self.list(group, subject)
        count = 0
        for letter in letters:
            if await self._backend.retry_letter(letter.id):
                count += 1
        return count

    async def purge(self, group: str | None = None) -> int:
        """Delete the dead letters (of one group); returns how many were deleted."""
        self._check_open()
        if group is not None:
            validate_group(group)
        return await self._backend.purge_letters(group)

    async def count(self, group: str | None = None) -> int:
        """How many dead letters there are (in one group)."""
        return len(await self.list(group))
