"""AsyncEventEmitter: scheduled coroutine listeners, emit_async, task errors, uvloop."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from eventflux.emitter import ERROR_MONITOR, AsyncEventEmitter, UnhandledErrorEvent


def test_listeners_can_be_added_and_sync_ones_emitted_without_a_loop() -> None:
    em = AsyncEventEmitter()
    seen: list[int] = []

    @em.on("x")
    async def later(n: int) -> None: ...

    em.on("y", seen.append)
    assert em.emit("y", 1) is True
    assert seen == [1]


def test_emit_of_a_coroutine_listener_without_a_loop_is_a_clear_error() -> None:
    em = AsyncEventEmitter()
    before: list[str] = []
    em.on("x", lambda: before.append("sync"))

    @em.on("x")
    async def charge() -> None:
        raise AssertionError("never runs")

    with pytest.raises(RuntimeError, match="no event loop is running") as info:
        em.emit("x")
    assert "charge" in str(info.value)
    assert before == ["sync"]
    gc.collect()  # the coroutine was closed: no "never awaited" warning


@pytest.mark.asyncio
async def test_emit_schedules_coroutines_and_wait_for_complete_waits() -> None:
    em = AsyncEventEmitter()
    order: list[str] = []

    @em.on("order.created")
    async def charge(order_id: int) -> None:
        order.append(f"charge start {order_id}")
        await asyncio.sleep(0)
        order.append(f"charge end {order_id}")

    em.on("order.created", lambda order_id: order.append(f"sync {order_id}"))

    assert em.emit("order.created", 1) is True
    order.append("after emit")
    assert em.pending == 1
    await em.wait_for_complete()
    assert em.pending == 0
    assert order == ["sync 1", "after emit", "charge start 1", "charge end 1"]


@pytest.mark.asyncio
async def test_awaitables_returned_by_plain_listeners_are_scheduled_too() -> None:
    em = AsyncEventEmitter()
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    done: list[str] = []

    async def work() -> None:
        done.append("work")

    em.on("x", lambda: work())
    em.on("x", lambda: future)
    em.emit("x")
    future.set_result(1)
    await em.wait_for_complete()
    assert done == ["work"]


@pytest.mark.asyncio
async def test_once_coroutine_listener() -> None:
    em = AsyncEventEmitter()
    calls: list[int] = []

    @em.once("x")
    async def handler(n: int) -> None:
        calls.append(n)

    em.emit("x", 1)
    em.emit("x", 2)
    await em.wait_for_complete()
    assert calls == [1]


@pytest.mark.asyncio
async def test_failing_task_goes_to_error_listeners_with_note_and_attributes() -> None:
    em = AsyncEventEmitter()
    errors: list[BaseException] = []
    em.on("error", errors.append)

    @em.on("payment.failed")
    async def refund(order_id: int, amount: int) -> None:
        raise ValueError("card declined")

    em.emit("payment.failed", 7, amount=5)
    await em.wait_for_complete()

    (error,) = errors
    assert isinstance(error, ValueError)
    # per the contract ``args`` holds the emitted arguments; the own ones move aside
    assert error.error_args == ("card declined",)  # type: ignore[attr-defined]
    assert error.event == "payment.failed"  # type: ignore[attr-defined]
    assert error.event_args == (7,)  # type: ignore[attr-defined]
    assert error.args == (7,)
    (note,) = error.__notes__
    assert "'payment.failed'" in note
    assert "(7,)" in note
    assert "refund" in note


@pytest.mark.asyncio
async def test_failing_task_without_error_listener_is_raised_by_wait_for_complete() -> None:
    em = AsyncEventEmitter()
    monitored: list[BaseException] = []
    em.on(ERROR_MONITOR, monitored.append)

    @em.on("x")
    async def boom() -> None:
        raise KeyError("boom")

    em.emit("x")
    with pytest.raises(KeyError) as info:
        await em.wait_for_complete()
    assert monitored == [info.value]
    await em.wait_for_complete()  # raised once only


@pytest.mark.asyncio
async def test_several_unhandled_task_failures_are_raised_as_a_group() -> None:
    em = AsyncEventEmitter()

    @em.on("x")
    async def one() -> None:
        raise KeyError("one")

    @em.on("x")
    async def two() -> None:
        raise ValueError("two")

    em.emit("x")
    with pytest.raises(ExceptionGroup) as info:
        await em.wait_for_complete()
    assert [type(e) for e in info.value.exceptions] == [KeyError, ValueError]


@pytest.mark.asyncio
async def test_failing_async_error_listener_does_not_loop() -> None:
    em = AsyncEventEmitter()

    @em.on("error")
    async def broken_handler(exc: BaseException) -> None:
        raise RuntimeError("handler broke")

    em.emit("error", ValueError("first"))
    with pytest.raises(RuntimeError) as info:
        await em.wait_for_complete()
    assert info.value.error_args == ("handler broke",)  # type: ignore[attr-defined]
    assert info.value.event == "error"  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_failing_sync_error_listener_for_a_task_error_is_kept() -> None:
    em = AsyncEventEmitter()

    def broken(exc: BaseException) -> None:
        raise RuntimeError("handler broke")

    em.on("error", broken)

    @em.on("x")
    async def boom() -> None:
        raise KeyError("boom")

    em.emit("x")
    with pytest.raises(RuntimeError, match="handler broke"):
        await em.wait_for_complete()


@pytest.mark.asyncio
async def test_cancelled_tasks_are_not_errors() -> None:
    em = AsyncEventEmitter()

    @em.on("x")
    async def sleeper() -> None:
        await asyncio.sleep(10)

    em.emit("x")
    for task in list(em._tasks):
        task.cancel()
    await em.wait_for_complete()


@pytest.mark.asyncio
async def test_sync_listener_exception_propagates_from_emit() -> None:
    em = AsyncEventEmitter()

    def broken() -> None:
        raise KeyError("sync")

    em.on("x", broken)
    with pytest.raises(KeyError) as info:
        em.emit("x")
    assert "broken" in info.value.__notes__[0]


@pytest.mark.asyncio
async def test_emit_async_awaits_each_listener_in_order() -> None:
    em = AsyncEventEmitter()
    order: list[str] = []

    @em.on("x")
    async def first(n: int) -> None:
        await asyncio.sleep(0.01)
        order.append(f"first {n}")

    em.on("x", lambda n: order.append(f"sync {n}"))

    @em.on("x")
    async def third(n: int) -> None:
        order.append(f"third {n}")

    assert await em.emit_async("x", 1) is True
    assert order == ["first 1", "sync 1", "third 1"]
    assert em.pending == 0
    assert await em.emit_async("nothing") is False


@pytest.mark.asyncio
async def test_emit_async_propagates_with_a_note_and_stops() -> None:
    em = AsyncEventEmitter()
    order: list[str] = []

    @em.on("x")
    async def failing_listener() -> None:
        raise ValueError("no")

    em.on("x", lambda: order.append("after"))
    with pytest.raises(ValueError, match="no") as info:
        await em.emit_async("x")
    assert order == []
    assert "failing_listener" in info.value.__notes__[0]


@pytest.mark.asyncio
async def test_emit_async_error_rules() -> None:
    em = AsyncEventEmitter()
    seen: list[str] = []

    @em.on(ERROR_MONITOR)
    async def monitor(exc: object) -> None:
        seen.append("monitor")

    with pytest.raises(UnhandledErrorEvent):
        await em.emit_async("error", "bad")
    assert seen == ["monitor"]

    @em.on("error")
    async def handle(exc: object) -> None:
        seen.append("handled")

    assert await em.emit_async("error", "bad") is True
    assert seen == ["monitor", "monitor", "handled"]


@pytest.mark.asyncio
async def test_wildcard_async_emitter() -> None:
    em = AsyncEventEmitter(wildcard=True)
    seen: list[str] = []

    @em.on("device.*.motion")
    async def light_on(room: str) -> None:
        seen.append(room)

    em.emit("device.hall.motion", "hall")
    await em.emit_async("device.kitchen.motion", "kitchen")
    await em.wait_for_complete()
    assert sorted(seen) == ["hall", "kitchen"]


def test_loop_argument_lets_other_threads_emit() -> None:
    loop = asyncio.new_event_loop()
    em = AsyncEventEmitter(loop=loop)
    done = threading.Event()
    threads: list[int] = []

    @em.on("x")
    async def handler() -> None:
        threads.append(threading.get_ident())
        done.set()

    em.emit("x")  # loop not running yet: scheduled on it
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    try:
        assert done.wait(5)
        done.clear()
        emitter = threading.Thread(target=em.emit, args=("x",))
        emitter.start()
        emitter.join()
        assert done.wait(5)
        asyncio.run_coroutine_threadsafe(em.wait_for_complete(), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join()
        loop.close()
    assert threads == [runner.ident, runner.ident]


def run_with_uvloop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def test_works_under_uvloop() -> None:
    from eventflux.emitter import on, once

    async def main() -> None:
        em = AsyncEventEmitter()
        seen: list[str] = []

        @em.on("x")
        async def handler(n: int) -> None:
            await asyncio.sleep(0)
            seen.append(f"task {n}")

        em.emit("x", 1)
        await em.wait_for_complete()
        await em.emit_async("x", 2)
        asyncio.get_running_loop().call_soon(em.emit, "y", 3)
        assert await once(em, "y", timeout=1) == (3,)
        async with on(em, "z") as events:
            em.emit("z", 4)
            assert await anext(events) == (4,)
        assert seen == ["task 1", "task 2"]

    run_with_uvloop(main)
