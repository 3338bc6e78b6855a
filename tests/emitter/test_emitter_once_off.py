"""once, off and remove_all_listeners (Node's once, remove-listeners, remove-all-listeners)."""

from __future__ import annotations

from typing import Any

import pytest

from eventflux.emitter import EventEmitter, MaxListenersExceededWarning


def test_once_runs_a_single_time() -> None:
    # Node: test-event-emitter-once
    em = EventEmitter()
    calls: list[int] = []
    em.once("hello", lambda: calls.append(1))
    em.emit("hello")
    em.emit("hello")
    assert calls == [1]
    assert em.listener_count("hello") == 0


def test_once_listener_removed_by_its_original_function_never_fires() -> None:
    em = EventEmitter()

    def remove() -> None:
        raise AssertionError("once->foo should not be emitted")

    em.once("foo", remove)
    em.off("foo", remove)
    assert em.emit("foo") is False


def test_once_listener_emitting_its_own_event_does_not_run_the_next_twice() -> None:
    em = EventEmitter()
    calls: list[str] = []

    @em.once("e")
    def first() -> None:
        calls.append("first")
        em.emit("e")

    em.once("e", lambda: calls.append("second"))
    em.emit("e")

    assert calls == ["first", "second"]


@pytest.mark.parametrize("count", range(5))
def test_once_passes_every_argument(count: int) -> None:
    em = EventEmitter()
    seen: list[tuple[int, ...]] = []
    em.once("foo", lambda *args: seen.append(args))
    em.emit("foo", *range(count))
    assert seen == [tuple(range(count))]


def test_once_returns_the_listener_result_through_the_wrapper() -> None:
    em = EventEmitter()
    em.once("x", lambda a: a * 2)
    (wrapper,) = em.raw_listeners("x")
    assert wrapper(21) == 42
    assert wrapper(21) is None  # already fired
    assert "once" in repr(wrapper)


def test_off_removes_the_last_matching_registration() -> None:
    em = EventEmitter()
    calls: list[str] = []

    def a() -> None:
        calls.append("a")

    def b() -> None:
        calls.append("b")

    em.on("x", a)
    em.on("x", b)
    em.on("x", a)
    em.off("x", a)

    assert em.listeners("x") == [a, b]
    em.once("y", a)
    em.on("y", a)
    em.off("y", a)
    assert [type(e).__name__ for e in em.raw_listeners("y")] == ["_Once"]


def test_off_matches_with_equality_so_bound_methods_work() -> None:
    class Clock:
        def __init__(self) -> None:
            self.ticks = 0

        def tick(self) -> None:
            self.ticks += 1

    clock = Clock()
    em = EventEmitter()
    em.on("tick", clock.tick)
    em.once("tock", clock.tick)
    em.emit("tick")
    em.off("tick", clock.tick)
    em.off("tock", clock.tick)
    em.emit("tick")
    em.emit("tock")
    assert clock.ticks == 1
    assert em.event_names() == []


def test_off_of_an_unknown_listener_or_name_does_nothing_and_returns_the_emitter() -> None:
    em = EventEmitter()
    em.on("remove_listener", lambda *a: pytest.fail("nothing was removed"))
    em.on("hello", print)
    assert em.off("hello", repr) is em
    assert em.off("nothing", repr) is em
    assert em.listeners("hello") == [print]


def test_remove_listener_fires_after_removal_with_name_and_listener() -> None:
    # Node: test-event-emitter-remove-listeners
    em = EventEmitter()

    def listener1() -> None: ...

    def listener2() -> None: ...

    em.on("hello", listener1)
    em.on("hello", listener2)
    seen: list[tuple[object, object, list[Any]]] = []

    @em.once("remove_listener")
    def first(name: object, fn: object) -> None:
        seen.append((name, fn, em.listeners("hello")))

        @em.once("remove_listener")
        def second(name: object, fn: object) -> None:
            seen.append((name, fn, em.listeners("hello")))

        em.off("hello", listener2)
        assert em.listeners("hello") == []

    em.off("hello", listener1)

    assert seen == [("hello", listener1, [listener2]), ("hello", listener2, [])]


def test_remove_listener_is_not_emitted_when_nothing_was_removed() -> None:
    em = EventEmitter()
    seen: list[object] = []
    em.on("hello", print)
    em.on("remove_listener", lambda name, fn: seen.append(fn))
    em.off("hello", repr)
    assert seen == []


def test_remove_listener_can_remove_and_emit_during_removal() -> None:
    # Node: test-event-emitter-remove-listeners ("quux")
    em = EventEmitter()
    calls: list[object] = []

    def remove1() -> None:
        raise AssertionError("remove1 should not have been called")

    def remove2() -> None:
        raise AssertionError("remove2 should not have been called")

    @em.on("remove_listener")
    def removed(name: object, fn: object) -> None:
        calls.append(fn)
        if fn is remove1:
            em.off("quux", remove2)
            em.emit("quux")

    em.on("quux", remove1)
    em.on("quux", remove2)
    em.off("quux", remove1)

    assert calls == [remove1, remove2]


def test_a_once_listener_reports_its_original_when_it_fires() -> None:
    em = EventEmitter()

    def listener1() -> None: ...

    seen: list[tuple[object, object]] = []
    em.once("hello", listener1)
    em.on("remove_listener", lambda name, fn: seen.append((name, fn)))
    em.emit("hello")
    assert seen == [("hello", listener1)]


def test_off_by_wrapper_also_reports_the_original() -> None:
    em = EventEmitter()
    seen: list[object] = []
    em.once("x", print)
    em.on("remove_listener", lambda name, fn: seen.append(fn))
    em.off("x", em.raw_listeners("x")[0])
    assert seen == [print]


def test_removing_during_emit_affects_only_the_next_emit() -> None:
    # Node: test-event-emitter-remove-listeners (listener3/listener4)
    em = EventEmitter()
    calls: list[str] = []

    def listener3() -> None:
        calls.append("3")
        em.off("hello", listener4)

    def listener4() -> None:
        calls.append("4")

    em.on("hello", listener3)
    em.on("hello", listener4)
    em.emit("hello")
    em.emit("hello")

    assert calls == ["3", "4", "3"]


def test_adding_during_emit_affects_only_the_next_emit() -> None:
    em = EventEmitter()
    calls: list[str] = []

    def grow() -> None:
        calls.append("grow")
        em.on("x", lambda: calls.append("new"))

    em.on("x", grow)
    em.emit("x")
    assert calls == ["grow"]
    em.emit("x")
    assert calls == ["grow", "grow", "new"]


def test_remove_all_listeners_of_one_event_reports_each_last_first() -> None:
    # Node: test-event-emitter-remove-all-listeners
    em = EventEmitter()

    def noop() -> None:
        raise AssertionError("not called")

    em.on("foo", noop)
    em.on("bar", noop)
    em.on("baz", noop)
    em.on("baz", noop)
    foo_listeners = em.listeners("foo")
    baz_listeners = em.listeners("baz")
    removed: list[str] = []
    em.on("remove_listener", lambda name, fn: removed.append(name))

    assert em.remove_all_listeners("bar") is em
    em.remove_all_listeners("baz")

    assert sorted(removed) == ["bar", "baz", "baz"]
    assert em.listeners("foo") == [noop]
    assert em.listeners("bar") == []
    assert em.listeners("baz") == []
    assert foo_listeners == [noop]
    assert baz_listeners == [noop, noop]


def test_remove_all_listeners_sees_the_list_shrink() -> None:
    em = EventEmitter()
    lengths: list[int] = []
    em.on("remove_listener", lambda name, fn: lengths.append(len(em.listeners("baz"))))
    for _ in range(3):
        em.on("baz", print)
    em.remove_all_listeners("baz")
    assert lengths == [2, 1, 0]


def test_remove_all_listeners_order_is_lifo_with_remove_listener_last() -> None:
    em = EventEmitter()
    first: list[tuple[object, object]] = []
    second: list[tuple[object, object]] = []

    def a() -> None: ...

    def b() -> None: ...

    def c() -> None: ...

    em.on("foo", a)
    em.on("foo", b)
    em.once("bar", c)
    em.on("remove_listener", lambda name, fn: first.append((name, fn)))
    em.on("remove_listener", lambda name, fn: second.append((name, fn)))

    assert em.remove_all_listeners() is em

    assert first[:3] == [("foo", b), ("foo", a), ("bar", c)]
    assert [n for n, _ in first] == ["foo", "foo", "bar", "remove_listener"]
    assert second == first[:3]
    assert em.event_names() == []


def test_remove_all_listeners_reports_object_names() -> None:
    em = EventEmitter()
    sym = object()

    def noop() -> None: ...

    em.on(sym, noop)
    seen: list[tuple[object, object]] = []
    em.on("remove_listener", lambda *args: seen.append(args))
    em.remove_all_listeners()
    assert seen == [(sym, noop)]


def test_remove_all_listeners_without_remove_listener_listeners() -> None:
    em = EventEmitter()
    em.on("a", print)
    em.on("b", print)
    em.remove_all_listeners("missing")
    em.remove_all_listeners("a")
    assert em.event_names() == ["b"]
    em.remove_all_listeners()
    assert em.event_names() == []
    assert em.emit("b") is False


def test_remove_all_listeners_for_an_event_without_listeners() -> None:
    em = EventEmitter()
    em.on("remove_listener", print)
    assert em.remove_all_listeners("foo") is em
    assert em.listeners("remove_listener") == [print]


def test_listeners_added_while_removing_all_are_dropped_too() -> None:
    em = EventEmitter()
    em.on("a", print)
    em.on("remove_listener", lambda name, fn: em.on("late", print))
    em.remove_all_listeners()
    assert em.event_names() == []


def test_remove_all_listeners_resets_the_max_listeners_warning() -> None:
    em = EventEmitter()
    em.set_max_listeners(1)
    em.on("x", print)
    with pytest.warns(MaxListenersExceededWarning):
        em.on("x", print)
    em.remove_all_listeners("x")
    em.on("x", print)
    with pytest.warns(MaxListenersExceededWarning):
        em.on("x", print)
