"""What the members of one NATS bus handle share (:class:`NatsContext`, the small
context object the backend hands to its members): the connection, the
settings, the meta stream, the group consumers, and the handler-run counts
kept in the meta stream (see :mod:`.delivery`).

Example::

    ctx = NatsContext(nc, settings)
    await ctx.save_runs("payments-1a2b3c4d", 42, 1)
    assert await ctx.load_runs("payments-1a2b3c4d", 42) == 1
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Final

from .groups import GroupRegistry
from .letters import letter_group, letter_subject
from .meta import MetaStore
from .settings import NatsSettings

__all__ = ["RUNS_TTL", "NatsContext"]

log = logging.getLogger("eventflux.bus.nats")

#: How long handler-run counts are kept (seconds).
RUNS_TTL: Final = 7 * 24 * 3600.0


class NatsContext:
    """The shared state of one bus handle's members."""

    def __init__(self, nc: Any, settings: NatsSettings) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=settings.timeout)
        self.settings = settings
        self.meta = MetaStore(
            nc, self.js, settings.meta_stream, settings.meta_prefix, timeout=settings.timeout
        )
        self.groups = GroupRegistry(self.js, settings)
        self.prefix_len = len(settings.prefix)
        self._background: set[asyncio.Task[None]] = set()

    # -- handler runs -----------------------------------------------------------------
    async def save_runs(self, gid: str, seq: int, runs: int) -> None:
        """Record that ``runs`` handler runs of the group's message ``seq`` started."""
        if runs == 0:
            await self.meta.purge(f"run.{gid}.{seq}")
        else:
            await self.meta.put(f"run.{gid}.{seq}", str(runs).encode(), ttl=RUNS_TTL)

    async def load_runs(self, gid: str, seq: int) -> int:
        found = await self.meta.get(f"run.{gid}.{seq}")
        return 0 if found is None else int(found[1])

    def forget_runs(self, gid: str, seq: int) -> None:
        """Drop a run count in the background (its message was settled)."""
        self.spawn(self.meta.purge(f"run.{gid}.{seq}"))

    # -- dead letters ------------------------------------------------------------------
    async def letter_done(self, letter_id: str) -> None:
        """The message of a retried letter was handled: delete the letter."""
        group = letter_group(letter_id)
        if group is not None:
            await self.meta.purge(letter_subject(group, letter_id))

    # -- background work ---------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run ``coro`` in the background; its failure is only logged."""

        async def quietly() -> None:
            try:
                await coro
            except Exception as e:
                log.debug("background cleanup failed: %s", e)

        task = asyncio.get_running_loop().create_task(quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def finish_background(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
