"""In-process events with Node.js ``events`` semantics and Python names.

:class:`EventEmitter` calls listeners synchronously; :class:`AsyncEventEmitter`
also runs coroutine listeners; :func:`once` awaits the next event and :func:`on`
iterates over events asynchronously::

    from eventflux import EventEmitter

    chat = EventEmitter()

    @chat.on("message")
    def show(user, text):
        print(f"{user}: {text}")

    chat.emit("message", "ada", "Hello")   # True: a listener ran

The user guide is ``docs/emitter.md``.
"""

from eventflux._async_emitter import AsyncEventEmitter, EventIterator, on, once
from eventflux._emitter import ERROR_MONITOR, EmitTracer, EventEmitter
from eventflux.exceptions import (
    EventOverflowError,
    MaxListenersExceededWarning,
    UnhandledErrorEvent,
)

__all__ = [
    "ERROR_MONITOR",
    "AsyncEventEmitter",
    "EmitTracer",
    "EventEmitter",
    "EventIterator",
    "EventOverflowError",
    "MaxListenersExceededWarning",
    "UnhandledErrorEvent",
    "on",
    "once",
]
