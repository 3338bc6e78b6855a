"""The writer thread: one thread, calls in order, a started call always ends
before a cancellation propagates."""

from __future__ import annotations

import asyncio
import threading

import pytest
from tests.cqrs._waits import poll_until

from eventflux.cqrs.readmodel.writer import WriterThread


@pytest.mark.asyncio
async def test_calls_run_in_order_on_one_thread_off_the_loop() -> None:
    writer = WriterThread()
    threads = await asyncio.gather(*(writer.run(threading.get_ident) for _ in range(5)))
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()
    order: list[int] = []
    await asyncio.gather(*(writer.run(order.append, i) for i in range(20)))
    assert order == list(range(20))
    with pytest.raises(ZeroDivisionError):
        await writer.run(lambda: 1 / 0)
    writer.close()
    writer.close()  # twice is harmless
    assert await writer.run(lambda: "again") == "again"  # a new thread on next use
    writer.close()


@pytest.mark.asyncio
async def test_a_cancelled_call_is_waited_for_even_when_cancelled_again() -> None:
    writer = WriterThread()
    started, release = threading.Event(), threading.Event()
    asked: list[bool] = []
    finished: list[bool] = []

    def work() -> None:
        started.set()
        release.wait(30)
        finished.append(True)

    task = asyncio.create_task(writer.run(work, on_cancel=lambda: asked.append(True)))
    await poll_until(started.is_set, "the work started")
    task.cancel()
    await poll_until(lambda: asked, "on_cancel was called")
    task.cancel()  # a second cancellation does not stop the wait
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [True]  # the work ended before the cancellation propagated
    writer.close()
