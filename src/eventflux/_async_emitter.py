"""asyncio support: :class:`AsyncEventEmitter`, :func:`once` and :func:`on`.

The public names are re-exported by :mod:`eventflux.emitter` and :mod:`eventflux`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import reprlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from types import TracebackType
from typing import Any, Self

from eventflux._emitter import (
    ERROR_MONITOR,
    INTERNAL_FILES,
    EventEmitter,
    Listener,
    RaiseUnhandled,
    annotate_error,
    as_exception,
    attach_event,
    describe_listener,
    is_error_event,
    listener_of,
)
from eventflux.exceptions import EventOverflowError

__all__ = ["AsyncEventEmitter", "EventIterator", "on", "once"]

INTERNAL_FILES.add(__file__)


class AsyncEventEmitter(EventEmitter):
    """An :class:`EventEmitter` whose listeners may be coroutine functions.

    ``emit`` calls every listener in order, as the base class does; when a
    listener returns an awaitable (a coroutine function does), it is scheduled
    as a task on the running loop (or on ``loop``, from any thread) and ``emit``
    moves on. The emitter keeps the tasks until they finish. A task's
    exception gets a note naming the event, its arguments and the listener,
    the attributes ``event`` and ``args`` (the emitted arguments, also as
    ``event_args``; the exception's own arguments move to ``error_args``), and is emitted as
    ``"error"``; with no ``"error"`` listener it is raised by the next
    :meth:`wait_for_complete`. ``await emit_async(...)`` instead awaits each
    listener in turn::

        shop = AsyncEventEmitter()

        @shop.on("order.created")
        async def charge(order):
            await payments.charge(order)

        shop.emit("order.created", order)          # schedules charge(order)
        await shop.wait_for_complete()
        await shop.emit_async("order.created", order)   # returns after charge(order)

    Listeners can be added with no loop running. Thread safety is the base
    class's; with ``loop`` given, other threads may emit too and their tasks
    start on that loop.
    """

    def __init__(
        self, *, wildcard: bool = False, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(wildcard=wildcard)
        self._loop = loop
        self._tasks: set[asyncio.Future[Any]] = set()
        self._errors: list[BaseException] = []

    def emit(self, name: Hashable, /, *args: Any, **kwargs: Any) -> bool:
        """Call the listeners of ``name``, scheduling the awaitables they return as tasks.

        Returns True if there was any listener. Raises :class:`RuntimeError` when
        a listener returns an awaitable and there is no loop to run it on.
        """
        handlers = self._table.get(name)
        if not handlers:
            handlers = self._slow_handlers(name, handlers, args)
            if not handlers:
                return False
        try:
            if kwargs:
                for listener in handlers:
                    result = listener(*args, **kwargs)
                    if result is not None:
                        self._schedule(result, name, args, listener)
            else:
                for listener in handlers:
                    result = listener(*args)
                    if result is not None:
                        self._schedule(result, name, args, listener)
        except Exception as exc:
            annotate_error(exc, name, listener)
            raise
        return True

    async def emit_async(self, name: Hashable, /, *args: Any, **kwargs: Any) -> bool:
        """Call the listeners of ``name`` in order, awaiting each one's awaitable.

        A listener's exception propagates, as from :meth:`emit`, and the
        listeners after it do not run. Returns True if there was any listener::

            await shop.emit_async("order.created", order)
        """
        handlers = self._table.get(name)
        if not handlers:
            handlers = self._slow_handlers(name, handlers, args)
            if not handlers:
                return False
        try:
            for listener in handlers:
                result = listener(*args, **kwargs)
                if result is not None and inspect.isawaitable(result):
                    await result
        except Exception as exc:
            annotate_error(exc, name, listener)
            raise
        return True

    def _after_call(
        self, result: Any, name: Hashable, args: tuple[Any, ...], listener: Listener
    ) -> None:
        if result is not None:
            self._schedule(result, name, args, listener)

    async def _traced_emit_async(self, name: Hashable, /, *args: Any, **kwargs: Any) -> bool:
        tracer, handlers = self._traced_handlers(name, args)
        if not handlers:
            return False
        try:
            for listener in handlers:
                if tracer is not None and type(listener) is not RaiseUnhandled:
                    tracer.on_listener(self, name, listener_of(listener))
                result = listener(*args, **kwargs)
                if result is not None and inspect.isawaitable(result):
                    await result
        except Exception as exc:
            annotate_error(exc, name, listener)
            raise
        return True

    async def wait_for_complete(self) -> None:
        """Wait until every scheduled listener task has finished.

        Then raise what failed with no ``"error"`` listener to take it: the
        exception itself, or an exception group when several did.
        """
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._errors:
            errors, self._errors = self._errors, []
            if len(errors) == 1:
                raise errors[0]
            raise BaseExceptionGroup(f"{len(errors)} listener tasks failed", errors)

    @property
    def pending(self) -> int:
        """How many scheduled listener tasks have not finished yet."""
        return len(self._tasks)

    def _schedule(
        self, result: object, name: Hashable, args: tuple[Any, ...], fn: Listener
    ) -> None:
        if not inspect.isawaitable(result):
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop or running
        if loop is None:
            if isinstance(result, Coroutine):
                result.close()  # never started: no "was never awaited" warning
            raise RuntimeError(
                f"listener {describe_listener(fn)} of event {name!r} returned an awaitable, but no "
                "event loop is running in this thread; emit from async code, await "
                "emit_async(), or create the AsyncEventEmitter with loop="
            )
        if loop is running or not loop.is_running():
            self._start(loop, result, name, args, fn)
        else:
            loop.call_soon_threadsafe(self._start, loop, result, name, args, fn)

    def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        awaitable: Awaitable[Any],
        name: Hashable,
        args: tuple[Any, ...],
        fn: Listener,
    ) -> None:
        if isinstance(awaitable, Coroutine):
            task: asyncio.Future[Any] = loop.create_task(awaitable)
        else:
            task = asyncio.ensure_future(awaitable, loop=loop)
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, name, args, fn))

    def _task_done(
        self, name: Hashable, args: tuple[Any, ...], fn: Listener, task: asyncio.Future[Any]
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        exc.add_note(
            f"raised by listener {describe_listener(fn)} of event {reprlib.repr(name)} "
            f"with args {reprlib.repr(args)}"
        )
        # The contract names the attributes ``event`` and ``args``; ``args`` then
        # holds the emitted arguments, so the original ones stay in ``error_args``.
        attach_event(exc, event=name, error_args=exc.args, event_args=args)
        exc.args = args
        if name is ERROR_MONITOR or is_error_event(name):
            self._errors.append(exc)  # re-emitting "error" could loop forever
            return
        try:
            self.emit("error", exc)
        except Exception as error:  # no "error" listener (exc itself), or one failed
            self._errors.append(error)


async def once(
    emitter: EventEmitter,
    name: Hashable,
    timeout: float | None = None,  # noqa: ASYNC109 (part of the contract)
) -> tuple[Any, ...]:
    """Wait for the next ``name`` event and return its positional arguments.

    An ``"error"`` emitted first is raised instead (unless ``name`` is
    ``"error"``); after ``timeout`` seconds :class:`TimeoutError` is raised. The
    listeners are removed in every case, cancellation included. The emit may
    come from another thread::

        (user,) = await once(chat, "user.joined", timeout=5)
    """
    loop = asyncio.get_running_loop()
    thread = threading.get_ident()
    future: asyncio.Future[tuple[Any, ...]] = loop.create_future()
    watch_errors = not is_error_event(name)

    def settle(set_outcome: Callable[[Any], None], outcome: Any) -> None:
        if threading.get_ident() == thread:
            if not future.done():
                set_outcome(outcome)
        else:
            loop.call_soon_threadsafe(_settle, future, set_outcome, outcome)

    def on_event(*args: Any, **kwargs: Any) -> None:
        if watch_errors:
            emitter.off("error", on_error)
        settle(future.set_result, args)

    def on_error(error: object = None, *args: Any, **kwargs: Any) -> None:
        emitter.off(name, on_event)
        settle(future.set_exception, as_exception(error))

    emitter.once(name, on_event)
    if watch_errors:
        emitter.once("error", on_error)
    try:
        async with asyncio.timeout(timeout):
            return await future
    finally:
        emitter.off(name, on_event)
        if watch_errors:
            emitter.off("error", on_error)


def _settle(future: asyncio.Future[Any], set_outcome: Callable[[Any], None], outcome: Any) -> None:
    if not future.done():
        set_outcome(outcome)


def on(emitter: EventEmitter, name: Hashable, maxsize: int = 1024) -> EventIterator:
    """Iterate asynchronously over the ``name`` events, as tuples of their positional arguments.

    Events are buffered from this call on, up to ``maxsize`` (0: no limit). If
    the buffer overflows, the iterator yields what it holds and then raises
    :class:`EventOverflowError`; an ``"error"`` emit is raised after the events
    before it. Leave the ``async with`` block (or call ``aclose()``) to stop
    listening; a ``break`` alone leaves the listeners in place::

        async with on(ticker, "price") as prices:
            async for symbol, price in prices:
                if price > 100:
                    break
    """
    return EventIterator(emitter, name, maxsize)


class EventIterator:
    """The async iterator :func:`on` returns; also an async context manager."""

    def __init__(self, emitter: EventEmitter, name: Hashable, maxsize: int = 1024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(
                f'the "maxsize" argument must be an int, got {type(maxsize).__qualname__}'
            )
        if maxsize < 0:
            raise ValueError(f'the "maxsize" argument must be 0 or more, got {maxsize}')
        self._emitter = emitter
        self._name = name
        self._maxsize = maxsize
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._error: BaseException | None = None
        self._finished = False  # no more events will be buffered
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._watch_errors = not is_error_event(name)
        emitter.on(name, self._push)
        if self._watch_errors:
            emitter.on("error", self._fail)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[Any, ...]:
        while True:
            with self._lock:
                if self._buffer:
                    return self._buffer.popleft()
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                if self._finished:
                    raise StopAsyncIteration
                loop = asyncio.get_running_loop()
                if self._loop is None:
                    self._loop, self._thread = loop, threading.get_ident()
                elif loop is not self._loop:
                    raise RuntimeError("an eventflux.on() iterator is bound to one event loop")
                waiter = loop.create_future()
                self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:  # cancelled: hand a wake-up we may have had to the next reader
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._release(everyone=False)
                raise

    async def aclose(self) -> None:
        """Stop listening; the events already buffered can still be read."""
        self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def _push(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            if self._finished:
                return
            overflow = 0 < self._maxsize <= len(self._buffer)
            if overflow:  # decided under the lock: no later event slips in before the error
                self._finished = True
                self._error = EventOverflowError(
                    f"more than {self._maxsize} {self._name!r} events were waiting to be "
                    "read; read them faster or pass a larger maxsize to eventflux.on()"
                )
            else:
                self._buffer.append(args)
        if overflow:
            self._detach()
        self._wake(everyone=overflow)

    def _fail(self, error: object = None, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._error = as_exception(error)
        self._detach()
        self._wake(everyone=True)

    def _close(self) -> None:
        with self._lock:
            detach = not self._finished
            self._finished = True
        if detach:
            self._detach()
        self._wake(everyone=True)

    def _detach(self) -> None:
        self._emitter.off(self._name, self._push)
        if self._watch_errors:
            self._emitter.off("error", self._fail)

    def _wake(self, *, everyone: bool) -> None:
        with self._lock:
            if not self._waiters or self._loop is None:
                return
            loop, thread = self._loop, self._thread
        if threading.get_ident() == thread:
            self._release(everyone)
        else:
            loop.call_soon_threadsafe(self._release, everyone)

    def _release(self, everyone: bool) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    if not everyone:
                        return
