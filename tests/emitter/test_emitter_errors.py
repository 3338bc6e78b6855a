"""Errors: listener exceptions, "error" events, ERROR_MONITOR, invalid input, max listeners."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from eventflux.emitter import (
    ERROR_MONITOR,
    EventEmitter,
    MaxListenersExceededWarning,
    UnhandledErrorEvent,
)
from eventflux.exceptions import EventfluxError


def failing(exc: BaseException) -> Any:
    def listener(*args: Any, **kwargs: Any) -> None:
        raise exc

    return listener


def test_listener_exception_propagates_with_a_note_and_stops_the_emit() -> None:
    em = EventEmitter()
    calls: list[str] = []

    def broken_listener(order: int) -> None:
        raise KeyError(order)

    em.on("order.created", lambda order: calls.append("before"))
    em.on("order.created", broken_listener)
    em.on("order.created", lambda order: calls.append("after"))

    with pytest.raises(KeyError) as info:
        em.emit("order.created", 7)

    assert calls == ["before"]
    (note,) = info.value.__notes__
    assert "'order.created'" in note
    assert "broken_listener" in note
    assert "test_listener_exception_propagates_with_a_note" in note  # the qualname


def test_note_names_the_original_of_a_once_listener_and_nested_emits_add_notes() -> None:
    em = EventEmitter()

    def inner_listener() -> None:
        raise ValueError("deep")

    def outer_listener() -> None:
        em.emit("inner")

    em.once("inner", inner_listener)
    em.on("outer", outer_listener)

    with pytest.raises(ValueError, match="deep") as info:
        em.emit("outer")

    inner, outer = info.value.__notes__
    assert "inner_listener" in inner
    assert "'inner'" in inner
    assert "outer_listener" in outer
    assert "'outer'" in outer


def test_note_for_callable_objects_and_keyboard_interrupt_passes_unannotated() -> None:
    class Handler:
        def __call__(self) -> None:
            raise RuntimeError("x")

    em = EventEmitter()
    em.on("a", Handler())
    with pytest.raises(RuntimeError) as info:
        em.emit("a")
    assert "Handler" in info.value.__notes__[0]

    em.on("b", failing(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt) as kb:
        em.emit("b")
    assert not hasattr(kb.value, "__notes__")


def test_error_without_listener_raises_the_exception() -> None:
    em = EventEmitter()
    error = ValueError("disk full")
    with pytest.raises(ValueError) as info:
        em.emit("error", error)
    assert info.value is error
    assert not hasattr(error, "__notes__")


@pytest.mark.parametrize("value", ["Accepts a string", {"message": "Error!"}, 42, None])
def test_error_without_listener_and_non_exception_raises_unhandled_error_event(
    value: object,
) -> None:
    # Node: test-event-emitter-errors
    em = EventEmitter()
    with pytest.raises(UnhandledErrorEvent) as info:
        em.emit("error", value)
    assert info.value.value == value
    assert repr(value) in str(info.value)
    assert isinstance(info.value, EventfluxError)


def test_error_with_no_argument_raises_unhandled_error_event_with_none() -> None:
    # Node: test-event-emitter-no-error-provided-to-error-event
    em = EventEmitter()
    with pytest.raises(UnhandledErrorEvent) as info:
        em.emit("error")
    assert info.value.value is None


def test_unhandled_error_value_whose_repr_fails() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    weird = Weird()
    em = EventEmitter()
    with pytest.raises(UnhandledErrorEvent, match="Weird object") as info:
        em.emit("error", weird)
    assert info.value.value is weird


def test_error_with_listener_is_handled() -> None:
    em = EventEmitter()
    errors: list[object] = []
    em.on("error", errors.append)
    assert em.emit("error", "oops") is True
    assert errors == ["oops"]


def test_error_monitor_sees_errors_first_without_handling_them() -> None:
    # Node: test-event-emitter-error-monitor
    em = EventEmitter()
    the_error = ValueError("MyError")
    order: list[tuple[str, object]] = []
    em.on(ERROR_MONITOR, lambda e: order.append(("monitor", e)))

    with pytest.raises(ValueError) as info:
        em.emit("error", the_error)
    assert info.value is the_error

    em.once("error", lambda e: order.append(("handler", e)))
    assert em.emit("error", the_error) is True

    assert em.emit("a_event") is False
    assert order == [("monitor", the_error), ("monitor", the_error), ("handler", the_error)]


def test_error_monitor_added_after_error_listener_still_runs_first() -> None:
    em = EventEmitter()
    order: list[str] = []
    em.on("error", lambda e: order.append("handler"))
    em.on(ERROR_MONITOR, lambda e: order.append("monitor"))
    em.emit("error", 1)
    em.off(ERROR_MONITOR, em.listeners(ERROR_MONITOR)[0])
    em.emit("error", 2)
    assert order == ["monitor", "handler", "handler"]


def test_error_monitor_can_be_emitted_directly_and_does_not_need_errors() -> None:
    em = EventEmitter()
    seen: list[object] = []
    em.on(ERROR_MONITOR, seen.append)
    assert em.emit(ERROR_MONITOR, 1) is True
    assert seen == [1]


def test_failing_error_monitor_propagates_like_any_listener() -> None:
    em = EventEmitter()
    em.on(ERROR_MONITOR, failing(OSError("monitor broke")))
    em.on("error", lambda e: None)
    with pytest.raises(OSError, match="monitor broke") as info:
        em.emit("error", ValueError())
    assert "'error'" in info.value.__notes__[0]


def test_error_monitor_with_no_error_listener_is_reported_in_emit_order() -> None:
    em = EventEmitter()
    em.on(ERROR_MONITOR, failing(OSError("monitor broke")))
    with pytest.raises(OSError):
        em.emit("error", ValueError())


@pytest.mark.parametrize(
    "method", ["on", "add_listener", "once", "prepend_listener", "prepend_once_listener", "off"]
)
@pytest.mark.parametrize("bad", [None, 1, "text", object()])
def test_a_listener_that_is_not_callable_is_a_type_error(method: str, bad: object) -> None:
    # Node: test-event-emitter-invalid-listener
    em = EventEmitter()
    with pytest.raises(TypeError, match='"listener"'):
        getattr(em, method)("foo", bad)


@pytest.mark.parametrize("method", ["on", "once", "prepend_listener", "prepend_once_listener"])
def test_decorating_a_non_callable_is_a_type_error(method: str) -> None:
    em = EventEmitter()
    with pytest.raises(TypeError, match='"listener"'):
        getattr(em, method)("foo")(None)
    assert em.event_names() == []


# -- max listeners ---------------------------------------------------------------------------


@pytest.fixture
def default_limit() -> Iterator[None]:
    before = EventEmitter.default_max_listeners
    yield
    EventEmitter.default_max_listeners = before


def test_get_max_listeners_defaults_to_ten_and_set_returns_the_emitter() -> None:
    # Node: test-event-emitter-get-max-listeners
    em = EventEmitter()
    assert em.get_max_listeners() == 10 == EventEmitter.default_max_listeners
    assert em.set_max_listeners(0) is em
    assert em.get_max_listeners() == 0
    em.set_max_listeners(3)
    assert em.get_max_listeners() == 3


@pytest.mark.parametrize("bad", [1.0, float("nan"), "and even this", True, False, None])
def test_set_max_listeners_rejects_non_ints(bad: object) -> None:
    # Node: test-event-emitter-max-listeners
    em = EventEmitter()
    with pytest.raises(TypeError, match='"n"'):
        em.set_max_listeners(bad)  # type: ignore[arg-type]
    assert em.get_max_listeners() == 10


def test_set_max_listeners_rejects_negative_numbers() -> None:
    em = EventEmitter()
    with pytest.raises(ValueError, match="-1"):
        em.set_max_listeners(-1)


def test_max_listeners_is_not_an_event() -> None:
    em = EventEmitter()
    calls: list[int] = []
    em.on("max_listeners", lambda: calls.append(1))
    em.set_max_listeners(42)
    em.emit("max_listeners")
    assert calls == [1]


def test_exceeding_max_listeners_warns_once_per_event() -> None:
    # Node: test-event-emitter-max-listeners-warning
    em = EventEmitter()
    em.set_max_listeners(1)
    em.on("event-type", print)
    with pytest.warns(MaxListenersExceededWarning) as record:
        em.on("event-type", print)
    (warning,) = record
    message = warning.message
    assert isinstance(message, MaxListenersExceededWarning)
    assert isinstance(message, RuntimeWarning)
    assert "2 event-type listeners added to [EventEmitter]" in str(message)
    assert "event-type" in str(message)
    assert message.emitter is em  # type: ignore[attr-defined]
    assert message.event == "event-type"  # type: ignore[attr-defined]
    assert message.count == 2  # type: ignore[attr-defined]
    assert warning.filename == __file__  # points at the caller

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.on("event-type", print)  # only once
        em.prepend_listener("event-type", print)
        em.on("other", print)


@pytest.mark.parametrize("name", [None, object(), 3])
def test_warning_for_non_str_names(name: object) -> None:
    # Node: test-event-emitter-max-listeners-warning-for-null / -for-symbol
    em = EventEmitter()
    em.set_max_listeners(1)
    em.on(name, print)
    with pytest.warns(MaxListenersExceededWarning, match=f"2 {name} listeners"):
        em.on(name, print)


def test_decorator_warning_points_at_the_caller() -> None:
    em = EventEmitter()
    em.set_max_listeners(1)
    em.once("x", print)
    with pytest.warns(MaxListenersExceededWarning) as record:

        @em.once("x")
        def listener() -> None: ...

    assert record[0].filename == __file__


def test_check_listener_leaks() -> None:
    # Node: test-event-emitter-check-listener-leaks
    em = EventEmitter()
    for _ in range(10):
        em.on("default", print)
    with pytest.warns(MaxListenersExceededWarning, match="11 default"):
        em.on("default", print)

    em.set_max_listeners(5)
    for _ in range(5):
        em.on("specific", print)
    with pytest.warns(MaxListenersExceededWarning, match="6 specific"):
        em.on("specific", print)

    em.set_max_listeners(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(1000):
            em.on("unlimited", print)


@pytest.mark.usefixtures("default_limit")
def test_class_default_applies_to_emitters_without_their_own_limit() -> None:
    EventEmitter.default_max_listeners = 42
    em = EventEmitter()
    for _ in range(42):
        em.on("fortytwo", print)
    with pytest.warns(MaxListenersExceededWarning, match="MaxListeners is 42"):
        em.on("fortytwo", print)

    own = EventEmitter().set_max_listeners(1)
    own.on("uno", print)
    with pytest.warns(MaxListenersExceededWarning, match="MaxListeners is 1"):
        own.on("uno", print)


def test_the_warning_can_come_again_after_the_list_shrank() -> None:
    em = EventEmitter().set_max_listeners(1)
    em.on("x", print)
    with pytest.warns(MaxListenersExceededWarning):
        em.on("x", repr)
    em.off("x", repr)
    with pytest.warns(MaxListenersExceededWarning):
        em.on("x", repr)
