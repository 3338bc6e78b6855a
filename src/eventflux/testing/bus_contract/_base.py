"""Shared fixtures and helpers of the message bus contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from ...bus import Delivery, MemberHandle, Message, MessageBus

#: Small backoffs keep the suite fast while still exercising the timers.
FAST = (0.01, 0.02)


async def eventually(
    condition: Callable[[], bool], within: float = 5.0, what: str = "condition"
) -> None:
    """Wait until ``condition()`` is true, polling every few milliseconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.005)


async def eventually_letters(bus: MessageBus, n: int, within: float = 5.0) -> None:
    """Wait until the dead-letter queue holds at least ``n`` letters."""
    deadline = time.monotonic() + within
    while len(await bus.dlq.list()) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {n} dead letters")
        await asyncio.sleep(0.005)


async def eventually_letters_gone(bus: MessageBus, within: float = 5.0) -> None:
    """Wait until the dead-letter queue is empty."""
    deadline = time.monotonic() + within
    while await bus.dlq.list():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the dead-letter queue to empty")
        await asyncio.sleep(0.005)


async def _kept(deliveries: Collection[Delivery]) -> None:
    """A revocation that a crashed member never answers."""


async def crashed_member(
    bus: MessageBus, group: str, pattern: str, ack_wait: float
) -> MemberHandle:
    """Join ``(group, pattern)`` through the bus's backend with no runtime behind
    the member: what it fetches stays leased until ``ack_wait`` runs out, as
    if its process had died."""
    return await bus.backend.join(group, pattern, ack_wait=ack_wait, concurrency=16, revoke=_kept)


async def fetch_one(handle: MemberHandle, within: float = 5.0) -> Delivery:
    """Fetch through ``handle`` until one delivery comes (a fetch may return
    ``[]`` early, e.g. when a lease falls due)."""
    deadline = time.monotonic() + within
    while True:
        batch = await handle.fetch(1, max(0.01, deadline - time.monotonic()))
        if batch:
            (delivery,) = batch
            return delivery
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing to fetch within {within} s")


async def handed_out_and_lost(
    bus: MessageBus,
    group: str,
    subject: str,
    *,
    runs_started: int,
    hand_outs: int | None = None,
    ack_wait: float = 0.05,
) -> None:
    """Publish ``{"n": 1}`` to ``subject`` and let crashed members (one per hand-out,
    ``hand_outs`` of them, default ``runs_started + 1``) fetch it in turn, each
    after the previous lease ran out. The first lost it before its handler
    started; each of the last ``runs_started`` started its handler (a backend
    may leave the first run of a first hand-out unrecorded: it is never one
    of these). Returns once the last lease is taken."""
    count = runs_started + 1 if hand_outs is None else hand_outs
    assert count > runs_started, "the first hand-out is always lost before its run"
    handle = await crashed_member(bus, group, subject, ack_wait)
    await bus.publish(subject, {"n": 1})
    for n in range(count):
        if n:
            handle = await crashed_member(bus, group, subject, ack_wait)
        taken = await fetch_one(handle)
        assert taken.attempt == 1 + max(0, n - (count - runs_started))
        if n >= count - runs_started:
            await handle.starting(taken)


@dataclass
class Recorder:
    """A handler that records what it receives (and when), optionally failing."""

    fail: Callable[[Message], BaseException | None] | None = None
    delay: float = 0.0
    messages: list[Message] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    running: int = 0
    max_running: int = 0

    async def __call__(self, msg: Message) -> None:
        self.messages.append(msg)
        self.times.append(time.monotonic())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail is not None:
                error = self.fail(msg)
                if error is not None:
                    raise error
        finally:
            self.running -= 1

    @property
    def data(self) -> list[Any]:
        return [m.data for m in self.messages]

    async def wait(self, n: int, within: float = 5.0) -> None:
        await eventually(lambda: len(self.messages) >= n, within, f"{n} deliveries")


async def quiet(seconds: float = 0.1) -> None:
    """Let the bus settle (used before asserting that nothing more arrives)."""
    await asyncio.sleep(seconds)


class BusContractBase:
    """Fixtures every contract group uses. Subclasses implement ``make_bus``."""

    async def make_bus(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> MessageBus:
        """Open a bus for one test. ``reopen=True`` opens another handle on the
        storage of the previous call in this test (durable backends only)."""
        raise NotImplementedError

    @pytest_asyncio.fixture
    async def bus(self, tmp_path: Path) -> AsyncIterator[MessageBus]:
        b = await self.make_bus(tmp_path)
        try:
            yield b
        finally:
            await b.close()
