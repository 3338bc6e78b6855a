"""The group-commit writers: grouping, one outcome per caller, deferral, limits,
closing, on a thread and on a task."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from eventflux._internal.group_commit import (
    DEFER,
    GroupLimits,
    Outcome,
    Request,
    TaskGroupWriter,
    ThreadGroupWriter,
)
from eventflux.exceptions import StoreClosedError


def _closed() -> BaseException:
    return StoreClosedError("closed")


class Refused(Exception):
    pass


# -- on a thread ------------------------------------------------------------------------
class ThreadCommit:
    """A commit function that records its groups; the first group can be held."""

    def __init__(self, hold_first: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.deferred_once: set[int] = set()

    def __call__(self, group: list[Request[int, int]]) -> Sequence[Outcome[int]]:
        self.groups.append([r.payload for r in group])
        self.entered.set()
        assert self.release.wait(10)
        out: list[Outcome[int]] = []
        for r in group:
            if r.payload < 0:
                out.append(Refused(r.payload))
            elif r.payload >= 1000 and r.payload not in self.deferred_once:
                self.deferred_once.add(r.payload)
                out.append(DEFER)
            else:
                out.append(r.payload * 10)
        return out


async def _until(predicate: object, seconds: float = 10.0) -> None:
    assert callable(predicate)
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - another thread makes it true
            await asyncio.sleep(0.002)


@pytest.mark.asyncio
async def test_thread_writer_groups_what_queued_meanwhile_and_answers_each_caller() -> None:
    commit = ThreadCommit(hold_first=True)
    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer", commit, limits=GroupLimits(100), closed=_closed
    )
    try:
        first = writer.submit(1)
        await asyncio.to_thread(commit.entered.wait, 10)  # the first group is running
        rest = [writer.submit(n) for n in (2, -3, 4, 1000)]
        assert writer.pending() == 4
        commit.release.set()
        assert await first == 10
        outcomes = await asyncio.gather(*rest, return_exceptions=True)
        assert outcomes[0] == 20
        assert isinstance(outcomes[1], Refused)  # fails alone
        assert outcomes[2] == 40
        assert outcomes[3] == 10000  # deferred once, then served by the next group
        assert commit.groups == [[1], [2, -3, 4, 1000], [1000]]
        assert (writer.submitted, writer.transactions, writer.requests) == (5, 3, 6)
    finally:
        await asyncio.to_thread(writer.stop)


@pytest.mark.asyncio
async def test_thread_writer_keeps_to_its_limits() -> None:
    commit = ThreadCommit(hold_first=True)
    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer", commit, limits=GroupLimits(3, size=5), closed=_closed
    )
    try:
        first = writer.submit(0)
        await asyncio.to_thread(commit.entered.wait, 10)
        sized = [writer.submit(n, size=2) for n in range(1, 8)]
        commit.release.set()
        await first
        assert await asyncio.gather(*sized) == [n * 10 for n in range(1, 8)]
        # at most 3 requests and a size of 5 per group (2 + 2, then the third waits)
        assert commit.groups == [[0], [1, 2], [3, 4], [5, 6], [7]]
    finally:
        await asyncio.to_thread(writer.stop)


@pytest.mark.asyncio
async def test_thread_writer_stop_finishes_the_queue_then_refuses() -> None:
    commit = ThreadCommit(hold_first=True)
    finished = threading.Event()
    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer", commit, limits=GroupLimits(100), closed=_closed, finish=finished.set
    )
    futures = [writer.submit(n) for n in range(3)]
    await asyncio.to_thread(commit.entered.wait, 10)
    stopping = asyncio.ensure_future(asyncio.to_thread(writer.stop))
    commit.release.set()
    await stopping
    assert [await f for f in futures] == [0, 10, 20]
    assert finished.is_set()
    with pytest.raises(StoreClosedError):
        writer.submit(5)


@pytest.mark.asyncio
async def test_thread_writer_skips_callers_that_gave_up_and_survives_a_failing_commit() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()
    entered = threading.Event()

    def commit(group: list[Request[int, int]]) -> Sequence[Outcome[int]]:
        calls.append([r.payload for r in group])
        entered.set()
        assert gate.wait(10)
        if any(r.payload == 13 for r in group):
            raise RuntimeError("the transaction failed")
        return [r.payload for r in group]

    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer", commit, limits=GroupLimits(100), closed=_closed
    )
    try:
        first = writer.submit(1)
        await asyncio.to_thread(entered.wait, 10)
        gone = writer.submit(2)
        gone.cancel()
        unlucky = [writer.submit(13), writer.submit(14)]
        gate.set()
        assert await first == 1
        for f in unlucky:
            with pytest.raises(RuntimeError, match="transaction failed"):
                await f
        assert calls == [[1], [13, 14]]  # the cancelled request never reached a group
        assert await writer.submit(3) == 3  # the thread lives on
    finally:
        await asyncio.to_thread(writer.stop)


@pytest.mark.asyncio
async def test_after_a_large_group_the_writer_gathers_the_next_one_a_moment() -> None:
    """A transaction that would serve fewer than half the callers of the last
    one (of 8 or more) waits up to ``gather`` seconds for them; one that is
    large enough, or follows a small one, starts at once."""
    commit = ThreadCommit(hold_first=True)
    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer", commit, limits=GroupLimits(100), closed=_closed, gather=0.3
    )
    loop = asyncio.get_running_loop()
    try:
        first = writer.submit(0)
        await asyncio.to_thread(commit.entered.wait, 10)
        large = [writer.submit(n) for n in range(1, 11)]  # queued while the first runs
        commit.release.set()
        await asyncio.gather(first, *large)
        assert commit.groups[1] == list(range(1, 11))

        # a lone request after the large group: the writer waits, and takes the
        # callers that come meanwhile in the same transaction
        started = loop.time()
        lone = writer.submit(11)
        await asyncio.sleep(0.05)
        late = [writer.submit(n) for n in range(12, 21)]
        await asyncio.gather(lone, *late)
        assert commit.groups[2] == list(range(11, 21))
        assert loop.time() - started < 0.3  # half the last group came: no more waiting

        # nobody else comes: it waits the whole moment once, then goes
        started = loop.time()
        assert await writer.submit(21) == 210  # the last group: 10, this one 1
        waited = loop.time() - started
        assert 0.25 <= waited < 5
        started = loop.time()
        assert await writer.submit(22) == 220  # the last group was small: no wait
        assert loop.time() - started < 0.25
    finally:
        await asyncio.to_thread(writer.stop)


@pytest.mark.asyncio
async def test_thread_writer_ticks_while_idle() -> None:
    ticks = threading.Semaphore(0)
    writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
        "test-writer",
        ThreadCommit(),
        limits=GroupLimits(10),
        closed=_closed,
        tick=ticks.release,
        tick_every=0.01,
    )
    try:
        for _ in range(3):  # nothing submitted: the tick runs anyway, again and again
            assert await asyncio.to_thread(ticks.acquire, True, 10)
        assert await writer.submit(2) == 20
    finally:
        await asyncio.to_thread(writer.stop)
    with pytest.raises(ValueError, match="together"):
        ThreadGroupWriter("x", ThreadCommit(), limits=GroupLimits(1), closed=_closed, tick=print)


# -- on a task --------------------------------------------------------------------------
class TaskCommit:
    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.deferred_once: set[int] = set()

    async def __call__(self, group: list[Request[int, int]]) -> Sequence[Outcome[int]]:
        self.groups.append([r.payload for r in group])
        self.entered.set()
        await self.release.wait()
        out: list[Outcome[int]] = []
        for r in group:
            if r.payload < 0:
                out.append(Refused(r.payload))
            elif r.payload >= 1000 and r.payload not in self.deferred_once:
                self.deferred_once.add(r.payload)
                out.append(DEFER)
            else:
                out.append(r.payload * 10)
        return out


@pytest.mark.asyncio
async def test_task_writer_groups_defers_and_answers_each_caller() -> None:
    commit = TaskCommit()
    commit.release.clear()
    writer: TaskGroupWriter[int, int] = TaskGroupWriter(
        commit, limits=GroupLimits(3, size=5), closed=_closed, name="test-writer"
    )
    first = asyncio.ensure_future(writer.submit(1))
    await asyncio.wait_for(commit.entered.wait(), 10)
    rest = [asyncio.ensure_future(writer.submit(n, size=2)) for n in (2, -3, 1000, 4, 5)]
    await asyncio.sleep(0)  # every submission is queued
    commit.release.set()
    assert await first == 10
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert outcomes[0] == 20
    assert isinstance(outcomes[1], Refused)
    assert outcomes[2:] == [10000, 40, 50]
    # sizes 2 + 2 fit in 5; the deferred request goes first in the next group
    assert commit.groups == [[1], [2, -3], [1000, 4], [1000, 5]]
    await writer.close()


@pytest.mark.asyncio
async def test_task_writer_close_fails_the_queue_and_refuses_later_requests() -> None:
    commit = TaskCommit()
    commit.release.clear()
    writer: TaskGroupWriter[int, int] = TaskGroupWriter(
        commit, limits=GroupLimits(1), closed=_closed, name="test-writer"
    )
    running = asyncio.ensure_future(writer.submit(1))
    await asyncio.wait_for(commit.entered.wait(), 10)
    queued = asyncio.ensure_future(writer.submit(2))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(writer.close())
    await asyncio.sleep(0)
    commit.release.set()
    await closing
    assert await running == 10  # the group in flight finished
    with pytest.raises(StoreClosedError):
        await queued
    with pytest.raises(StoreClosedError):
        await writer.submit(3)


@pytest.mark.asyncio
async def test_task_writer_failing_or_cancelled_commit_reaches_every_caller() -> None:
    async def broken(group: list[Request[int, int]]) -> Sequence[Outcome[int]]:
        raise RuntimeError("no database")

    writer: TaskGroupWriter[int, int] = TaskGroupWriter(
        broken, limits=GroupLimits(10), closed=_closed, name="test-writer"
    )
    results = await asyncio.gather(writer.submit(1), writer.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    await writer.close()

    commit = TaskCommit()
    commit.release.clear()
    stuck: TaskGroupWriter[int, int] = TaskGroupWriter(
        commit, limits=GroupLimits(10), closed=_closed, name="test-writer"
    )
    waiting = asyncio.ensure_future(stuck.submit(1))
    await asyncio.wait_for(commit.entered.wait(), 10)
    await stuck.close(grace=0.05)  # the group never ends: it is cancelled
    with pytest.raises(asyncio.CancelledError):
        await waiting


@pytest.mark.asyncio
async def test_a_failing_tick_is_logged_and_the_thread_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = threading.Event()

    def tick() -> None:
        failed.set()
        raise RuntimeError("housekeeping broke")

    with caplog.at_level("ERROR", logger="eventflux"):
        writer: ThreadGroupWriter[int, int] = ThreadGroupWriter(
            "test-writer",
            ThreadCommit(),
            limits=GroupLimits(10),
            closed=_closed,
            tick=tick,
            tick_every=0.01,
        )
        try:
            assert await asyncio.to_thread(failed.wait, 10)
            assert await writer.submit(4) == 40
        finally:
            await asyncio.to_thread(writer.stop)
    assert "housekeeping broke" in caplog.text
