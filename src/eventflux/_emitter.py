"""The synchronous :class:`EventEmitter` (Node.js ``events`` semantics).

The public names are re-exported by :mod:`eventflux.emitter` and :mod:`eventflux`.
"""

from __future__ import annotations

import reprlib
import sys
import threading
import warnings
from collections.abc import Callable, Hashable
from types import FrameType
from typing import Any, ClassVar, Final, Protocol, Self, TypeVar, overload

from eventflux._internal.sentinels import Sentinel
from eventflux.exceptions import MaxListenersExceededWarning, UnhandledErrorEvent

__all__ = ["ERROR_MONITOR", "EmitTracer", "EventEmitter"]

Listener = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])

_CACHE_LIMIT: Final = 4096  # emitted names remembered by a wildcard emitter
# Source files whose frames are skipped when a warning points at user code.
INTERNAL_FILES: set[str] = {__file__}


ERROR_MONITOR: Final = Sentinel("ERROR_MONITOR", __name__, "eventflux.ERROR_MONITOR")
"""Event name for listeners that watch ``"error"`` events without handling them.

Its listeners run before the regular ``"error"`` listeners, and an ``"error"``
emitted with only monitors listening is still raised::

    seen = []
    em = EventEmitter()
    em.on(ERROR_MONITOR, seen.append)
    em.on("error", lambda exc: None)
    em.emit("error", ValueError("disk full"))   # seen == [ValueError('disk full')]
"""

_MISSING: Final = Sentinel("_MISSING", __name__)


def describe_listener(listener: object) -> str:
    """Name a listener for messages: ``module.qualname`` when it has one."""
    if type(listener) is _Once:
        listener = listener.listener
    qualname = getattr(listener, "__qualname__", None) or type(listener).__qualname__
    module = getattr(listener, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def annotate_error(exc: BaseException, name: object, listener: object) -> None:
    if type(listener) is not RaiseUnhandled:
        exc.add_note(
            f"raised by listener {describe_listener(listener)} of event {reprlib.repr(name)}"
        )


def is_error_event(name: object) -> bool:
    return isinstance(name, str) and name == "error"


def _check_listener(listener: object) -> None:
    if not callable(listener):
        raise TypeError(f'the "listener" argument must be callable, got {reprlib.repr(listener)}')


def _stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside eventflux."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename in INTERNAL_FILES:
        frame = frame.f_back
        level += 1
    return level


def _segments(name: Hashable) -> tuple[str, ...] | None:
    """The dot-separated segments of a wildcard pattern, or None when ``name`` is no pattern."""
    if not isinstance(name, str) or "*" not in name:
        return None
    segments = tuple(name.split("."))
    if "*" not in segments and "**" not in segments:
        return None  # a "*" inside a segment is a plain character
    return segments


def _matches(pattern: tuple[str, ...], name: tuple[str, ...]) -> bool:
    if pattern[-1] == "**":
        pattern = pattern[:-1]
        if len(name) <= len(pattern):
            return False
    elif len(name) != len(pattern):
        return False
    return all(p == "*" or p == s for p, s in zip(pattern, name, strict=False))


class _Once:
    """The wrapper ``once()`` registers: it removes itself, then calls :attr:`listener`."""

    __slots__ = ("emitter", "fired", "listener", "name")

    def __init__(self, emitter: EventEmitter, name: Hashable, listener: Listener) -> None:
        self.emitter = emitter
        self.name = name
        self.listener = listener
        self.fired = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.emitter._lock:
            if self.fired:  # already fired from an emit that began earlier
                return None
            self.fired = True
        self.emitter.remove_listener(self.name, self)
        return self.listener(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<once {self.listener!r}>"


class RaiseUnhandled:
    """Runs last when ``"error"`` is emitted with no listener: raises the error."""

    __slots__ = ("args",)

    def __init__(self, args: tuple[Any, ...]) -> None:
        self.args = args

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise as_exception(self.args[0] if self.args else None)


def as_exception(value: object) -> BaseException:
    """The exception an ``"error"`` event with this value raises."""
    if isinstance(value, BaseException):
        return value
    try:
        return UnhandledErrorEvent(value)
    except Exception:  # the value's repr() failed
        error = UnhandledErrorEvent.__new__(UnhandledErrorEvent)
        error.value = value
        error.args = (f"unhandled 'error' event: <{type(value).__qualname__} object>",)
        return error


def attach_event(target: object, **attributes: object) -> None:
    """Set attributes the type does not declare (on warnings and exceptions)."""
    for attribute, value in attributes.items():
        setattr(target, attribute, value)


class EmitTracer(Protocol):
    """What :meth:`EventEmitter.set_tracer` calls: once per emit, then once before
    each listener call (see :func:`eventflux.observability.record`)."""

    def on_emit(
        self, emitter: EventEmitter, name: Hashable, args: tuple[Any, ...], caller: FrameType | None
    ) -> None: ...

    def on_listener(self, emitter: EventEmitter, name: Hashable, listener: Listener) -> None: ...


def listener_of(entry: Listener) -> Listener:
    """The function a user registered, for a listener as the emitter stores it."""
    return entry.listener if type(entry) is _Once else entry


class EventEmitter:
    """Calls listeners synchronously when an event is emitted, with Node.js semantics.

    ::

        chat = EventEmitter()

        @chat.on("message")
        def show(user, text):
            print(f"{user}: {text}")

        chat.emit("message", "ada", "Hello")   # prints "ada: Hello", returns True

    Event names are any hashable objects. With ``wildcard=True``, str names can
    be patterns: ``*`` matches exactly one dot-separated segment anywhere and a
    trailing ``**`` one or more (``"order.**"`` matches ``"order.a"`` and
    ``"order.a.b"`` but not ``"order"``). Listeners of the exact name run first,
    then pattern listeners in registration order. Methods that take a name
    (``listeners``, ``off``, ``listener_count``...) work on the name or pattern
    the listener was registered with.

    Thread safety: any thread may emit while others add or remove listeners.
    Each event name maps to an immutable tuple of listeners; a change builds a
    new tuple and swaps it in under a lock, so ``emit`` takes no lock and runs
    the tuple that was current when it started (adding or removing during an
    emit affects the next emit). The registry is never seen half-changed, and
    a once-listener runs at most once even when threads emit together.
    Listeners run in the emitting thread.

    The class attribute :attr:`default_max_listeners` (10) applies to every
    emitter that has not called :meth:`set_max_listeners`.
    """

    default_max_listeners: ClassVar[int] = 10

    def __init__(self, *, wildcard: bool = False) -> None:
        self._lock = threading.RLock()
        # Registry: name or pattern -> listeners as registered (once-wrappers included).
        self._events: dict[Hashable, tuple[Listener, ...]] = {}
        # What emit() reads: name -> listeners to call. Without wildcards it mirrors
        # _events (plus "error" led by its monitors); with them it caches resolved names.
        self._table: dict[Hashable, tuple[Listener, ...]] = {}
        self._wildcard = wildcard
        # Pattern listeners in the order their group runs: (segments, entry).
        self._patterns: tuple[tuple[tuple[str, ...], Listener], ...] = ()
        self._max_listeners: int | None = None
        self._warned: set[Hashable] = set()
        self._tracer: EmitTracer | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} events={len(self._events)}>"

    # -- tracing ----------------------------------------------------------------------------
    def set_tracer(self, tracer: EmitTracer | None) -> Self:
        """Report every emit and every listener call of this emitter to ``tracer``
        (``None`` stops). Costs nothing while no tracer is set: the traced
        ``emit`` replaces the plain one on this instance only.

        Example::

            recording = eventflux.observability.record(chat)   # sets a tracer
        """
        if tracer is None:
            self.__dict__.pop("emit", None)
            self.__dict__.pop("emit_async", None)
            self._tracer = None
            return self
        self._tracer = tracer
        self.__dict__["emit"] = self._traced_emit
        if hasattr(self, "_traced_emit_async"):
            self.__dict__["emit_async"] = self._traced_emit_async
        return self

    def _traced_handlers(
        self, name: Hashable, args: tuple[Any, ...]
    ) -> tuple[EmitTracer | None, tuple[Listener, ...]]:
        tracer = self._tracer
        if tracer is not None:
            caller = sys._getframe(2)
            if caller.f_code.co_filename in INTERNAL_FILES:
                tracer = None  # the emitter's own housekeeping (new_listener...)
            else:
                tracer.on_emit(self, name, args, caller)
        handlers = self._table.get(name)
        if not handlers:
            handlers = self._slow_handlers(name, handlers, args)
        return tracer, handlers

    def _traced_emit(self, name: Hashable, /, *args: Any, **kwargs: Any) -> bool:
        tracer, handlers = self._traced_handlers(name, args)
        if not handlers:
            return False
        try:
            for listener in handlers:
                if tracer is not None and type(listener) is not RaiseUnhandled:
                    tracer.on_listener(self, name, listener_of(listener))
                self._after_call(listener(*args, **kwargs), name, args, listener)
        except Exception as exc:
            annotate_error(exc, name, listener)
            raise
        return True

    def _after_call(
        self, result: Any, name: Hashable, args: tuple[Any, ...], listener: Listener
    ) -> None:
        """What happens to a listener's return value (nothing; the async emitter
        schedules awaitables)."""

    # -- emitting ---------------------------------------------------------------------------

    def emit(self, name: Hashable, /, *args: Any, **kwargs: Any) -> bool:
        """Call every listener of ``name`` with the arguments; True if there was any.

        Listeners run in order on the list as it was when the emit started. A
        listener's exception propagates with a note naming the event and the
        listener, and the listeners after it do not run. Emitting ``"error"``
        with no listener raises the emitted exception (or
        :class:`UnhandledErrorEvent` for any other value)::

            em.emit("message", "Hello", sender="ada")
        """
        handlers = self._table.get(name)
        if not handlers:
            handlers = self._slow_handlers(name, handlers, args)
            if not handlers:
                return False
        try:
            if kwargs:
                for listener in handlers:
                    listener(*args, **kwargs)
            else:  # a call without **{} is faster
                for listener in handlers:
                    listener(*args)
        except Exception as exc:
            annotate_error(exc, name, listener)
            raise
        return True

    def _slow_handlers(
        self, name: Hashable, cached: tuple[Listener, ...] | None, args: tuple[Any, ...]
    ) -> tuple[Listener, ...]:
        """What to call when the table has no listener: resolve patterns, handle "error"."""
        if cached is None and self._wildcard:
            handlers = self._resolve(name)
            if handlers:
                return handlers
        if is_error_event(name):
            return (*self._events.get(ERROR_MONITOR, ()), RaiseUnhandled(args))
        return ()

    def _resolve(self, name: Hashable) -> tuple[Listener, ...]:
        """Wildcard mode: the listeners ``name`` reaches, computed once and cached."""
        with self._lock:
            table = self._table
            handlers = table.get(name)
            if handlers is not None:
                return handlers
            handlers = ()
            if isinstance(name, str) and self._patterns:
                parts = tuple(name.split("."))
                handlers = tuple(e for segments, e in self._patterns if _matches(segments, parts))
            if _segments(name) is None:
                handlers = self._events.get(name, ()) + handlers
            if handlers and is_error_event(name):
                handlers = self._events.get(ERROR_MONITOR, ()) + handlers
            if len(table) >= _CACHE_LIMIT:
                self._table = table = {}
            table[name] = handlers
            return handlers

    def _refresh(self, name: Hashable) -> None:
        """Bring the emit table up to date after the listeners of ``name`` changed."""
        if self._wildcard:
            self._table = {}  # emits in flight keep reading the old cache
            return
        table = self._table
        if name is ERROR_MONITOR or is_error_event(name):
            errors = self._events.get("error")
            if errors:
                table["error"] = self._events.get(ERROR_MONITOR, ()) + errors
            else:
                table.pop("error", None)
            if name is not ERROR_MONITOR:
                return
        listeners = self._events.get(name)
        if listeners:
            table[name] = listeners
        else:
            table.pop(name, None)

    # -- adding -----------------------------------------------------------------------------

    @overload
    def on(self, name: Hashable) -> Callable[[F], F]: ...
    @overload
    def on(self, name: Hashable, listener: F) -> F: ...
    def on(self, name: Hashable, listener: Any = _MISSING) -> Any:
        """Add ``listener`` at the end of the listeners of ``name``; return it.

        Without a listener, return a decorator. Adding the same function twice
        makes it run twice::

            @em.on("user.joined")
            def greet(user): ...

            em.on("user.joined", audit.record)
        """
        return self._register(name, listener, prepend=False, once=False)

    add_listener = on

    @overload
    def once(self, name: Hashable) -> Callable[[F], F]: ...
    @overload
    def once(self, name: Hashable, listener: F) -> F: ...
    def once(self, name: Hashable, listener: Any = _MISSING) -> Any:
        """Like :meth:`on`, but the listener is removed just before its first call.

        ``off(name, listener)`` removes it before it fires::

            @em.once("ready")
            def start(): ...
        """
        return self._register(name, listener, prepend=False, once=True)

    @overload
    def prepend_listener(self, name: Hashable) -> Callable[[F], F]: ...
    @overload
    def prepend_listener(self, name: Hashable, listener: F) -> F: ...
    def prepend_listener(self, name: Hashable, listener: Any = _MISSING) -> Any:
        """Like :meth:`on`, but add the listener before the others of ``name``."""
        return self._register(name, listener, prepend=True, once=False)

    @overload
    def prepend_once_listener(self, name: Hashable) -> Callable[[F], F]: ...
    @overload
    def prepend_once_listener(self, name: Hashable, listener: F) -> F: ...
    def prepend_once_listener(self, name: Hashable, listener: Any = _MISSING) -> Any:
        """Like :meth:`once`, but add the listener before the others of ``name``."""
        return self._register(name, listener, prepend=True, once=True)

    def _register(self, name: Hashable, listener: Any, *, prepend: bool, once: bool) -> Any:
        if listener is _MISSING:

            def decorator(fn: F) -> F:
                self._add(name, fn, prepend=prepend, once=once)
                return fn

            return decorator
        self._add(name, listener, prepend=prepend, once=once)
        return listener

    def _add(self, name: Hashable, listener: Listener, *, prepend: bool, once: bool) -> None:
        _check_listener(listener)
        hash(name)  # an unhashable name fails before "new_listener" announces it
        segments = _segments(name) if self._wildcard else None
        if segments is not None and "**" in segments[:-1]:
            raise ValueError(f"'**' may only be the last segment of a pattern, got {name!r}")
        entry: Listener = _Once(self, name, listener) if once else listener
        self.emit("new_listener", name, listener)
        with self._lock:
            current = self._events.get(name, ())
            listeners = (entry, *current) if prepend else (*current, entry)
            self._events[name] = listeners
            if segments is not None:
                item = ((segments, entry),)
                self._patterns = item + self._patterns if prepend else self._patterns + item
            self._refresh(name)
            limit = self.get_max_listeners()
            warn = 0 < limit < len(listeners) and name not in self._warned
            if warn:
                self._warned.add(name)
        if warn:
            warning = MaxListenersExceededWarning(
                f"Possible EventEmitter memory leak detected. {len(listeners)} {name} "
                f"listeners added to [{type(self).__name__}]. MaxListeners is {limit}. "
                "Use set_max_listeners() to increase the limit."
            )
            attach_event(warning, emitter=self, event=name, count=len(listeners))
            warnings.warn(warning, stacklevel=_stacklevel())

    # -- removing ---------------------------------------------------------------------------

    def off(self, name: Hashable, listener: Listener) -> Self:
        """Remove the last registration of ``listener`` for ``name``; return the emitter.

        Listeners are compared with ``==``, so ``em.off("tick", clock.update)``
        removes a bound method registered as ``clock.update``; a once-listener
        is removed by its original function. Nothing happens when it is not
        registered. ``"remove_listener"`` is emitted after the removal.
        """
        _check_listener(listener)
        with self._lock:
            current = self._events.get(name)
            if not current:
                return self
            for index in range(len(current) - 1, -1, -1):
                entry = current[index]
                if entry == listener or (type(entry) is _Once and entry.listener == listener):
                    break
            else:
                return self
            listeners = current[:index] + current[index + 1 :]
            if listeners:
                self._events[name] = listeners
            else:
                del self._events[name]
            if len(listeners) <= 1:
                self._warned.discard(name)  # as in Node, a shrunken list may warn again
            segments = _segments(name) if self._wildcard else None
            if segments is not None:
                self._remove_pattern_entry(segments, entry)
            self._refresh(name)
        self.emit("remove_listener", name, entry.listener if type(entry) is _Once else entry)
        return self

    remove_listener = off

    def _remove_pattern_entry(self, segments: tuple[str, ...], entry: Listener) -> None:
        patterns = self._patterns
        for index in range(len(patterns) - 1, -1, -1):
            if patterns[index][1] is entry and patterns[index][0] == segments:
                self._patterns = patterns[:index] + patterns[index + 1 :]
                return

    def remove_all_listeners(self, name: Hashable = _MISSING) -> Self:
        """Remove every listener, or every listener of ``name``; return the emitter.

        When someone listens to ``"remove_listener"``, it is told of each removal:
        per event the last-added listener first, and ``"remove_listener"``'s own
        listeners last.
        """
        if not self._reaches("remove_listener"):
            with self._lock:
                if name is _MISSING:
                    self._clear()
                elif self._events.pop(name, None) is not None:
                    self._warned.discard(name)
                    segments = _segments(name) if self._wildcard else None
                    if segments is not None:
                        self._patterns = tuple(p for p in self._patterns if p[0] != segments)
                    self._refresh(name)
            return self
        if name is _MISSING:
            for key in list(self._events):
                if not (isinstance(key, str) and key == "remove_listener"):
                    self.remove_all_listeners(key)
            self.remove_all_listeners("remove_listener")
            with self._lock:
                self._clear()  # drops listeners added meanwhile, as Node does
            return self
        for entry in reversed(self._events.get(name, ())):
            self.off(name, entry)
        return self

    def _clear(self) -> None:
        self._events.clear()
        self._table = {}
        self._patterns = ()
        self._warned.clear()

    def _reaches(self, name: str) -> bool:
        handlers = self._table.get(name)
        if handlers is None and self._wildcard:
            handlers = self._resolve(name)
        return bool(handlers)

    # -- inspecting -------------------------------------------------------------------------

    def listeners(self, name: Hashable) -> list[Listener]:
        """The listeners registered for ``name``, in call order (once-listeners unwrapped)."""
        return [e.listener if type(e) is _Once else e for e in self._events.get(name, ())]

    def raw_listeners(self, name: Hashable) -> list[Listener]:
        """Like :meth:`listeners`, but once-listeners as their wrappers.

        A wrapper has the original function as ``.listener``; calling it
        removes it and calls the original.
        """
        return list(self._events.get(name, ()))

    def listener_count(self, name: Hashable, listener: Listener | None = None) -> int:
        """How many listeners ``name`` has, or how many times ``listener`` is registered."""
        entries = self._events.get(name, ())
        if listener is None:
            return len(entries)
        return sum(
            1 for e in entries if e == listener or (type(e) is _Once and e.listener == listener)
        )

    def event_names(self) -> list[Hashable]:
        """The names (and patterns) that have listeners, in the order they got their first."""
        with self._lock:
            return list(self._events)

    def set_max_listeners(self, n: int) -> Self:
        """Warn when an event gets more than ``n`` listeners (0: never); return the emitter.

        The warning is a :class:`MaxListenersExceededWarning`, issued once per
        event name, and has the attributes ``emitter``, ``event`` and ``count``.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f'the "n" argument must be an int, got {type(n).__qualname__}')
        if n < 0:
            raise ValueError(f'the "n" argument must be 0 or more, got {n}')
        self._max_listeners = n
        return self

    def get_max_listeners(self) -> int:
        """The limit set by :meth:`set_max_listeners`, else :attr:`default_max_listeners`."""
        if self._max_listeners is None:
            return type(self).default_max_listeners
        return self._max_listeners
