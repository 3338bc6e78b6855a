"""The awaitable helpers once() and on() (Node's test-events-once, -on-async-iterator)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eventflux.emitter import (
    ERROR_MONITOR,
    AsyncEventEmitter,
    EventEmitter,
    EventOverflowError,
    UnhandledErrorEvent,
    on,
    once,
)


def later(callback: Any, *args: Any) -> None:
    asyncio.get_running_loop().call_soon(callback, *args)


async def drain(events: AsyncIterator[tuple[Any, ...]], into: list[tuple[Any, ...]]) -> None:
    async for event in events:
        into.append(event)


# -- once() ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_once_returns_the_arguments_of_the_next_emit() -> None:
    em = EventEmitter()
    later(em.emit, "myevent", 42)
    assert await once(em, "myevent") == (42,)
    later(em.emit, "myevent", 42, 24)
    assert await once(em, "myevent") == (42, 24)
    later(em.emit, "myevent")
    assert await once(em, "myevent") == ()
    assert em.listener_count("myevent") == 0
    assert em.listener_count("error") == 0


@pytest.mark.asyncio
async def test_once_raises_an_error_emitted_meanwhile() -> None:
    em = EventEmitter()
    expected = ValueError("kaboom")

    def emit_both() -> None:
        em.emit("error", expected)
        assert em.emit("myevent", 42, 24) is False  # already removed

    later(emit_both)
    with pytest.raises(ValueError) as info:
        await once(em, "myevent")
    assert info.value is expected
    assert em.listener_count("error") == 0
    assert em.listener_count("myevent") == 0


@pytest.mark.asyncio
async def test_once_raises_unhandled_error_event_for_non_exceptions() -> None:
    em = EventEmitter()
    later(em.emit, "error", "text")
    with pytest.raises(UnhandledErrorEvent) as info:
        await once(em, "myevent")
    assert info.value.value == "text"


@pytest.mark.asyncio
async def test_once_error_returns_the_error_arguments() -> None:
    em = EventEmitter()
    error = ValueError("kaboom")
    later(em.emit, "error", error)
    assert await once(em, "error") == (error,)
    assert em.listener_count("error") == 0


@pytest.mark.asyncio
async def test_once_with_error_monitor() -> None:
    # Node: test-event-emitter-error-monitor (the events.once part)
    em = EventEmitter()
    the_error = ValueError("MyError")
    monitored: list[object] = []
    em.on(ERROR_MONITOR, monitored.append)
    later(em.emit, "error", the_error)
    with pytest.raises(ValueError):
        await once(em, "not_triggered")
    assert monitored == [the_error]


@pytest.mark.asyncio
async def test_once_timeout() -> None:
    em = EventEmitter()
    with pytest.raises(TimeoutError):
        await once(em, "never", timeout=0.01)
    assert em.event_names() == []


@pytest.mark.asyncio
async def test_once_cancelled_removes_its_listeners() -> None:
    em = EventEmitter()
    task = asyncio.create_task(once(em, "never"))
    await asyncio.sleep(0)
    assert em.listener_count("never") == 1
    assert em.listener_count("error") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert em.event_names() == []


@pytest.mark.asyncio
async def test_once_with_an_emit_from_another_thread() -> None:
    em = EventEmitter()
    task = asyncio.create_task(once(em, "done"))
    await asyncio.sleep(0)
    threading.Thread(target=em.emit, args=("done", "from thread")).start()
    assert await asyncio.wait_for(task, 5) == ("from thread",)


@pytest.mark.asyncio
async def test_once_on_an_async_emitter() -> None:
    em = AsyncEventEmitter(wildcard=True)
    later(em.emit, "order.created", 1)
    assert await once(em, "order.*") == (1,)


# -- on() ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_on_yields_argument_tuples_in_order() -> None:
    em = EventEmitter()

    def emit() -> None:
        em.emit("foo", "bar")
        em.emit("bar", 24)  # another event: not seen
        em.emit("foo", 42)

    later(emit)
    expected = [("bar",), (42,)]
    async with on(em, "foo") as events:
        assert em.listener_count("error") == 1
        async for event in events:
            assert event == expected.pop(0)
            if not expected:
                break
    assert em.listener_count("foo") == 0
    assert em.listener_count("error") == 0


@pytest.mark.asyncio
async def test_on_buffers_from_creation() -> None:
    em = EventEmitter()
    events = on(em, "foo")
    em.emit("foo", 1)
    em.emit("foo", 2, 3)
    assert await anext(events) == (1,)
    assert await anext(events) == (2, 3)
    await events.aclose()
    assert em.event_names() == []
    with pytest.raises(StopAsyncIteration):
        await anext(events)


def test_on_can_be_created_without_a_loop() -> None:
    em = EventEmitter()
    events = on(em, "foo")
    em.emit("foo", 1)

    async def main() -> tuple[Any, ...]:
        async with events:
            return await anext(events)

    assert asyncio.run(main()) == (1,)


@pytest.mark.asyncio
async def test_on_raises_an_error_at_once_when_nothing_is_buffered() -> None:
    em = EventEmitter()
    error = ValueError("kaboom")
    later(em.emit, "error", error)
    seen: list[tuple[Any, ...]] = []
    with pytest.raises(ValueError) as info:
        await drain(on(em, "foo"), seen)
    assert info.value is error
    assert seen == []
    assert em.event_names() == []


@pytest.mark.asyncio
async def test_on_raises_an_error_after_the_buffered_events() -> None:
    em = EventEmitter()
    error = ValueError("kaboom")

    def emit() -> None:
        em.emit("foo", 42)
        em.emit("error", error)
        em.emit("foo", 43)  # after the error: not delivered

    later(emit)
    seen: list[tuple[Any, ...]] = []
    events = on(em, "foo")
    with pytest.raises(ValueError):
        await drain(events, seen)
    assert seen == [(42,)]
    assert em.event_names() == []
    with pytest.raises(StopAsyncIteration):
        await anext(events)


@pytest.mark.asyncio
async def test_on_error_yields_errors() -> None:
    em = EventEmitter()
    async with on(em, "error") as errors:
        em.emit("error", "a")
        assert em.listener_count("error") == 1
        assert await anext(errors) == ("a",)


@pytest.mark.asyncio
async def test_on_non_exception_error_becomes_unhandled_error_event() -> None:
    em = EventEmitter()
    events = on(em, "foo")
    em.emit("error", 42)
    with pytest.raises(UnhandledErrorEvent):
        await anext(events)


@pytest.mark.asyncio
async def test_on_overflow_yields_what_it_holds_then_raises() -> None:
    em = EventEmitter()
    events = on(em, "tick", maxsize=3)
    for i in range(5):
        em.emit("tick", i)
    assert em.event_names() == []  # stopped listening at the overflow
    seen: list[tuple[Any, ...]] = []
    with pytest.raises(EventOverflowError, match="maxsize"):
        await drain(events, seen)
    assert seen == [(0,), (1,), (2,)]


@pytest.mark.asyncio
async def test_on_unbounded_with_maxsize_zero() -> None:
    em = EventEmitter()
    async with on(em, "tick", maxsize=0) as events:
        for i in range(5000):
            em.emit("tick", i)
        assert await anext(events) == (0,)


@pytest.mark.parametrize(
    ("maxsize", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_on_validates_maxsize(maxsize: Any, error: type[Exception]) -> None:
    em = EventEmitter()
    with pytest.raises(error, match="maxsize"):
        on(em, "x", maxsize=maxsize)
    assert em.event_names() == []


@pytest.mark.asyncio
async def test_on_concurrent_next_calls_and_close() -> None:
    # Node: test-events-on-async-iterator ("next")
    em = EventEmitter()
    events = on(em, "foo")

    async def produce() -> None:
        em.emit("foo", "bar")
        em.emit("foo", 42)
        await events.aclose()

    async def next_or_done() -> object:
        try:
            return await anext(events)
        except StopAsyncIteration:
            return "done"

    waiting = [asyncio.create_task(next_or_done()) for _ in range(3)]
    await asyncio.sleep(0)
    await produce()
    assert await asyncio.gather(*waiting) == [("bar",), (42,), "done"]
    assert await next_or_done() == "done"


@pytest.mark.asyncio
async def test_on_cancelled_reader_passes_the_event_to_the_next() -> None:
    em = EventEmitter()
    events = on(em, "foo")
    first = asyncio.create_task(anext(events))
    second = asyncio.create_task(anext(events))
    await asyncio.sleep(0)
    em.emit("foo", 1)
    first.cancel()
    assert await asyncio.wait_for(second, 1) == (1,)
    await events.aclose()


@pytest.mark.asyncio
async def test_on_events_from_other_threads() -> None:
    em = EventEmitter()
    async with on(em, "n") as numbers:

        def produce() -> None:
            for i in range(200):
                em.emit("n", i)

        threading.Thread(target=produce).start()
        got = [await asyncio.wait_for(anext(numbers), 5) for _ in range(200)]
    assert got == [(i,) for i in range(200)]


@pytest.mark.asyncio
async def test_on_is_bound_to_one_loop() -> None:
    em = EventEmitter()
    events = on(em, "x")
    reader = asyncio.create_task(anext(events))
    await asyncio.sleep(0)

    def other_loop() -> None:
        with pytest.raises(RuntimeError, match="one event loop"):
            asyncio.run(anext(events))

    thread = threading.Thread(target=other_loop)
    thread.start()
    thread.join()
    em.emit("x", 1)
    assert await reader == (1,)
    await events.aclose()
