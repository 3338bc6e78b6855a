"""Adding listeners, emitting, inspecting (Node's add-listeners, num-args, listeners...)."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from eventflux.emitter import ERROR_MONITOR, EventEmitter


def test_emit_calls_listeners_in_order_and_returns_whether_any_ran() -> None:
    em = EventEmitter()
    calls: list[tuple[str, Any]] = []
    em.on("hello", lambda x: calls.append(("a", x)))
    em.on("hello", lambda x: calls.append(("b", x)))

    assert em.emit("hello", 1) is True
    assert calls == [("a", 1), ("b", 1)]
    assert em.emit("other", 1) is False


def test_on_is_a_decorator_and_a_call_returning_the_function() -> None:
    em = EventEmitter()
    seen: list[str] = []

    @em.on("message")
    def show(text: str) -> None:
        seen.append(text)

    def shout(text: str) -> None:
        seen.append(text.upper())

    assert em.on("message", shout) is shout
    assert show.__name__ == "show"
    em.emit("message", "hi")
    assert seen == ["hi", "HI"]


@pytest.mark.parametrize(
    "method", ["on", "add_listener", "once", "prepend_listener", "prepend_once_listener"]
)
def test_every_registration_method_works_both_ways(method: str) -> None:
    em = EventEmitter()
    seen: list[int] = []

    def listener(x: int) -> None:
        seen.append(x)

    decorated = getattr(em, method)("ev")(listener)
    returned = getattr(em, method)("ev", listener)

    assert decorated is listener
    assert returned is listener
    assert em.listeners("ev") == [listener, listener]
    em.emit("ev", 7)
    assert seen == [7, 7]


def test_add_listener_is_on_and_remove_listener_is_off() -> None:
    assert vars(EventEmitter)["add_listener"] is vars(EventEmitter)["on"]
    assert vars(EventEmitter)["remove_listener"] is vars(EventEmitter)["off"]


def test_num_args_are_passed_exactly() -> None:
    # Node: test-event-emitter-num-args
    em = EventEmitter()
    counts: list[int] = []
    em.on("num_args", lambda *args: counts.append(len(args)))
    em.on("foo", lambda *args: counts.append(len(args)))
    em.on("foo", lambda *args: counts.append(len(args)))

    for n in range(6):
        em.emit("num_args", *([None] * n))
    em.emit("foo")
    em.emit("foo", None, None)

    assert counts == [0, 1, 2, 3, 4, 5, 0, 0, 2, 2]


def test_keyword_arguments_are_passed_and_name_is_positional_only() -> None:
    em = EventEmitter()
    seen: list[dict[str, Any]] = []
    em.on("ev", lambda **kw: seen.append(kw))

    em.emit("ev", name="n", listener="l", args=1)

    assert seen == [{"name": "n", "listener": "l", "args": 1}]


def test_listener_return_values_are_ignored() -> None:
    em = EventEmitter()
    em.on("ev", lambda: 42)
    assert em.emit("ev") is True


def test_prepend_listener_and_prepend_once_listener_run_first() -> None:
    # Node: test-event-emitter-prepend
    em = EventEmitter()
    order: list[str] = []
    em.on("foo", lambda: order.append("last"))
    em.prepend_listener("foo", lambda: order.append("second"))
    em.prepend_once_listener("foo", lambda: order.append("first"))

    em.emit("foo")
    em.emit("foo")

    assert order == ["first", "second", "last", "second", "last"]


def test_new_listener_fires_before_adding_with_name_and_listener() -> None:
    # Node: test-event-emitter-add-listeners
    em = EventEmitter()
    announced: list[tuple[object, object, list[Any]]] = []

    def on_new(name: object, listener: object) -> None:
        if name == "new_listener":
            return
        announced.append((name, listener, em.listeners(name)))

    em.on("new_listener", on_new)

    def hello(a: str, b: str) -> None: ...

    em.on("hello", hello)
    em.once("foo", hello)

    assert announced == [("hello", hello, []), ("foo", hello, [])]
    assert em.raw_listeners("foo")[0] is not hello


def test_new_listener_is_not_announced_to_itself() -> None:
    em = EventEmitter()
    seen: list[object] = []
    em.on("new_listener", lambda name, fn: seen.append(name))
    assert seen == []
    em.on("new_listener", lambda name, fn: None)
    assert seen == ["new_listener"]


def test_listeners_added_by_new_listener_come_first() -> None:
    # Node: test-event-emitter-add-listeners ("listenerOrder")
    em = EventEmitter()

    def listen1() -> None: ...

    def listen2() -> None: ...

    @em.once("new_listener")
    def first(name: object, fn: object) -> None:
        assert em.listeners("hello") == []

        @em.once("new_listener")
        def second(name: object, fn: object) -> None:
            assert em.listeners("hello") == []

        em.on("hello", listen2)

    em.on("hello", listen1)

    assert em.listeners("hello") == [listen2, listen1]


def test_set_max_listeners_zero_does_not_fail() -> None:
    em = EventEmitter()
    em.set_max_listeners(0)
    for _ in range(100):
        em.on("x", lambda: None)
    assert em.listener_count("x") == 100


def test_listeners_returns_copies() -> None:
    # Node: test-event-emitter-listeners and -listeners-side-effects
    def listener() -> None: ...

    def listener2() -> None: ...

    em = EventEmitter()
    assert em.listeners("foo") == []
    em.on("foo", listener)
    copy_before = em.listeners("foo")
    copy_before.append(listener2)
    assert em.listeners("foo") == [listener]

    snapshot = em.listeners("foo")
    em.on("foo", listener2)
    assert em.listeners("foo") == [listener, listener2]
    assert snapshot == [listener]

    em.remove_all_listeners("foo")
    assert em.listeners("foo") == []
    assert snapshot == [listener]
    assert em.listeners("foo") is not em.listeners("foo")


def test_listeners_unwraps_once_listeners_and_raw_listeners_does_not() -> None:
    # Node: test-event-emitter-listeners (rawListeners)
    def listener() -> int:
        return 0

    em = EventEmitter()
    em.on("foo", listener)
    raw = em.raw_listeners("foo")
    assert raw == [listener]
    assert raw is not em.raw_listeners("foo")

    em.once("foo", listener)
    assert em.listeners("foo") == [listener, listener]
    raw = em.raw_listeners("foo")
    assert raw[0] is listener
    assert raw[1] is not listener
    assert raw[1].listener is listener  # type: ignore[attr-defined]
    em.emit("foo")
    assert len(raw) == 2
    assert raw[1].listener is listener  # type: ignore[attr-defined]
    assert em.raw_listeners("foo") == [listener]


def test_calling_a_raw_once_wrapper_removes_it_and_returns_the_result() -> None:
    # Node: test-event-emitter-listeners (last block)
    em = EventEmitter()
    em.once("foo", lambda: 0)
    em.on("foo", lambda: 1)

    raw = em.raw_listeners("foo")
    assert len(raw) == 2
    assert raw[0]() == 0
    raw = em.raw_listeners("foo")
    assert len(raw) == 1
    assert raw[0]() == 1


def test_listener_count_counts_all_or_one_listener() -> None:
    # Node: test-event-emitter-listener-count
    em = EventEmitter()

    def handler() -> None: ...

    em.on("foo", lambda: None)
    em.on("foo", lambda: None)
    em.on("baz", lambda: None)
    em.on(123, lambda: None)
    em.on("foo", handler)
    em.once("foo", handler)

    assert em.listener_count("foo") == 4
    assert em.listener_count("foo", handler) == 2
    assert em.listener_count("bar") == 0
    assert em.listener_count("baz") == 1
    assert em.listener_count(123) == 1


def test_event_names_in_order_of_first_listener() -> None:
    em = EventEmitter()
    sym = object()
    assert em.event_names() == []
    em.on("b", lambda: None)
    em.on(sym, lambda: None)
    em.on("a", lambda: None)
    em.on("b", lambda: None)
    assert em.event_names() == ["b", sym, "a"]
    em.remove_all_listeners("b")
    em.on("b", lambda: None)
    assert em.event_names() == [sym, "a", "b"]


@pytest.mark.parametrize(
    "name",
    [
        "__proto__",
        "__defineGetter__",
        "toString",
        "constructor",
        "hasOwnProperty",
        "__class__",
        "__dict__",
        "__init__",
        "emit",
        "on",
        "get",
        "keys",
        "",
    ],
)
def test_special_event_names_are_plain_names(name: str) -> None:
    # Node: test-event-emitter-special-event-names
    em = EventEmitter()
    seen: list[int] = []
    assert em.listener_count(name) == 0
    assert em.listeners(name) == []

    em.on(name, seen.append)

    assert em.event_names() == [name]
    assert em.listeners(name) == [seen.append]
    assert em.emit(name, 1) is True
    assert seen == [1]


@pytest.mark.parametrize(
    "name",
    [object(), None, 0, 1.5, ("order", 1), frozenset({"a"}), ERROR_MONITOR, b"bytes", True],
)
def test_any_hashable_is_an_event_name(name: object) -> None:
    # Node: test-event-emitter-symbols (symbols become any hashable object)
    em = EventEmitter()
    seen: list[object] = []
    em.on(name, seen.append)
    assert em.event_names() == [name]
    assert em.listener_count(name) == 1
    assert em.emit(name, "x") is True
    assert seen == ["x"]
    em.off(name, seen.append)
    assert em.event_names() == []


def test_unhashable_names_are_rejected_before_new_listener() -> None:
    em = EventEmitter()
    announced: list[object] = []
    em.on("new_listener", lambda name, fn: announced.append(name))
    with pytest.raises(TypeError, match="unhashable"):
        em.on(["a"], lambda: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="unhashable"):
        em.emit(["a"])  # type: ignore[arg-type]
    assert announced == []


def test_subclass_gets_the_full_behaviour() -> None:
    # Node: test-event-emitter-subclass
    class Stream(EventEmitter):
        def __init__(self) -> None:
            super().__init__()
            self.on("data", self.collect)
            self.chunks: list[bytes] = []

        def collect(self, chunk: bytes) -> None:
            self.chunks.append(chunk)

    stream = Stream()
    assert stream.emit("data", b"x") is True
    assert stream.chunks == [b"x"]
    stream.off("data", stream.collect)
    assert stream.emit("data", b"y") is False
    assert stream.listeners("foo") == []


def test_error_monitor_is_a_named_singleton() -> None:
    assert repr(ERROR_MONITOR) == "eventflux.ERROR_MONITOR"
    assert copy.copy(ERROR_MONITOR) is ERROR_MONITOR
    assert copy.deepcopy(ERROR_MONITOR) is ERROR_MONITOR
    assert pickle.loads(pickle.dumps(ERROR_MONITOR)) is ERROR_MONITOR
    assert ERROR_MONITOR != "ERROR_MONITOR"


def test_repr_names_the_class() -> None:
    em = EventEmitter()
    em.on("a", lambda: None)
    assert repr(em) == "<EventEmitter events=1>"
