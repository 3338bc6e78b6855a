"""A memory-bus backlog keeps each encoded payload in a right-sized copy (an
encoder's bytes may sit in a buffer several times their size): 100k queued
small messages stay under 100 MB (docs/benchmarks.md has the figure)."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from eventflux.bus import MessageBus, open_bus

COUNT = 20_000


async def _backlog(bus: MessageBus) -> None:
    bus.subscribe("backlog", lambda msg: None, group="g")
    await bus.unsubscribe(bus.subscriptions[0].handler)  # the group keeps its messages
    for start in range(0, COUNT, 1000):
        await bus.publish_many(
            [("backlog", {"i": n, "x": "hello"}) for n in range(start, start + 1000)]
        )


@pytest.mark.asyncio
async def test_a_queued_message_costs_hundreds_of_bytes_not_kilobytes() -> None:
    async with await open_bus("memory://") as bus:
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            await _backlog(bus)
            gc.collect()
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        (group,) = await bus.groups()
        assert group.pending == COUNT
        per_message = (after - before) / COUNT
        # about 450 bytes each (entry, envelope, id, payload); 100k stay under 100 MB
        assert per_message < 1000, f"{per_message:.0f} bytes per queued message"
