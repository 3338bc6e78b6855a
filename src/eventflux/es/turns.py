"""Turn-taking for the updates of one aggregate within a process.

Two commands on one aggregate, run at once, both start from the same version;
one of them is refused with a :class:`~eventflux.ConcurrencyError`, reloads
and runs again. Within one process that is avoidable: :class:`Turns` lets the
second one wait for the first, in arrival order, and then start from the
version the first saved (from the repository's cache, with no read at all).

It is an optimisation, never a guarantee: every save still checks the stream
version, so processes sharing a store, or an update that gives up waiting,
stay correct. Hence the two ways out of waiting:

- an update nested in another one of the same aggregates (the command calls
  ``update`` again, directly or through what it dispatches in-process) does
  not wait for itself;
- a turn that lasts longer than ``patience`` seconds (a command awaiting
  something slow, or a reply from a handler that needs the same aggregate)
  is waited for no longer: the next update goes ahead, as if there were no
  turns.

Example::

    turns = Turns(patience=1.0)
    async with turns.take(["alice", "bob"]):
        ...  # no other update of alice or bob in this process runs meanwhile
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Final

__all__ = ["PATIENCE", "Turns"]

#: seconds an update waits for the one before it, by default
PATIENCE: Final = 1.0

#: the turns the running code holds: (Turns number, key) pairs
_HELD: ContextVar[frozenset[tuple[int, str]]] = ContextVar("eventflux_turns", default=frozenset())
_numbers = itertools.count()


class Turns:
    """First come, first served, per key, among the tasks of one event loop."""

    def __init__(self, patience: float = PATIENCE) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int | float) or patience < 0:
            raise ValueError(f"patience must be a number of seconds >= 0, got {patience!r}")
        self.patience = float(patience)
        self._number = next(_numbers)
        self._last: dict[str, asyncio.Future[None]] = {}  # the latest turn of each key

    def waiting(self) -> int:
        """How many keys have a turn running or waiting."""
        return len(self._last)

    @asynccontextmanager
    async def take(self, keys: Sequence[str]) -> AsyncIterator[None]:
        """Wait until the earlier turns of ``keys`` are over (or ``patience`` has
        passed), then hold them until the block ends."""
        held = _HELD.get()
        number = self._number
        mine = [k for k in keys if (number, k) not in held]
        if not mine:  # nested in our own turn: waiting would wait for ourselves
            yield
            return
        loop = asyncio.get_running_loop()
        ours: asyncio.Future[None] = loop.create_future()
        last = self._last
        # (a turn taken on another event loop is not waited for: versions decide)
        before = {f for k in mine if (f := last.get(k)) is not None and f.get_loop() is loop}
        for k in mine:
            last[k] = ours
        token = _HELD.set(held | {(number, k) for k in mine})
        started = not before
        try:
            if before:
                await asyncio.wait(before, timeout=self.patience)
            started = True
            yield
        finally:
            _HELD.reset(token)
            if started:
                self._end(ours, mine)
            else:  # cancelled while waiting: those after us still wait for those before
                self._end_after(before, ours, mine)

    def _end(self, ours: asyncio.Future[None], keys: list[str]) -> None:
        if not ours.done():
            ours.set_result(None)
        last = self._last
        for k in keys:
            if last.get(k) is ours:
                del last[k]

    def _end_after(
        self, before: set[asyncio.Future[None]], ours: asyncio.Future[None], keys: list[str]
    ) -> None:
        pending = {f for f in before if not f.done()}
        if not pending:
            self._end(ours, keys)
            return

        def one_done(f: asyncio.Future[None]) -> None:
            pending.discard(f)
            if not pending:
                self._end(ours, keys)

        for f in pending:
            f.add_done_callback(one_done)
