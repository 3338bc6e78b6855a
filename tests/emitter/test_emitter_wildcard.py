"""Wildcard patterns: opt-in, one-segment "*", trailing "**", exact listeners first."""

from __future__ import annotations

from typing import Any

import pytest

from eventflux.emitter import (
    ERROR_MONITOR,
    EventEmitter,
    MaxListenersExceededWarning,
    UnhandledErrorEvent,
)


def recorder(em: EventEmitter, *patterns: str) -> list[tuple[str, tuple[Any, ...]]]:
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for pattern in patterns:
        em.on(pattern, lambda *args, p=pattern: calls.append((p, args)))
    return calls


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("order.*", "order.created", True),
        ("order.*", "order", False),
        ("order.*", "order.a.b", False),
        ("*.created", "order.created", True),
        ("*.created", "order.created.late", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
        ("*", "error", True),
        ("*", "a.b", False),
        ("*.*", "a.b", True),
        ("order.**", "order.a", True),
        ("order.**", "order.a.b", True),
        ("order.**", "order", False),
        ("order.**", "orders.a", False),
        ("**", "anything.at.all", True),
        ("*.b.**", "a.b.c.d", True),
        ("*.b.**", "a.b", False),
        ("order.*", "order.", True),  # an empty segment is still a segment
        ("ord*", "order", False),  # "*" inside a segment is a literal character
        ("ord*", "ord*", True),
    ],
)
def test_pattern_matching(pattern: str, name: str, expected: bool) -> None:
    em = EventEmitter(wildcard=True)
    calls = recorder(em, pattern)
    assert em.emit(name, 1) is expected
    assert bool(calls) is expected


def test_wildcards_are_opt_in() -> None:
    em = EventEmitter()
    calls = recorder(em, "order.*")
    assert em.emit("order.created") is False
    assert em.emit("order.*") is True
    assert calls == [("order.*", ())]


def test_exact_listeners_run_first_then_patterns_in_registration_order() -> None:
    em = EventEmitter(wildcard=True)
    order: list[str] = []
    em.on("order.*", lambda: order.append("p1"))
    em.on("*.created", lambda: order.append("p2"))
    em.on("order.created", lambda: order.append("e1"))
    em.on("order.*", lambda: order.append("p3"))
    em.on("order.**", lambda: order.append("p4"))
    em.on("order.created", lambda: order.append("e2"))

    em.emit("order.created")

    assert order == ["e1", "e2", "p1", "p2", "p3", "p4"]


def test_prepended_pattern_listeners_run_before_earlier_patterns() -> None:
    em = EventEmitter(wildcard=True)
    order: list[str] = []
    em.on("a.*", lambda: order.append("p1"))
    em.prepend_listener("*.b", lambda: order.append("p0"))
    em.emit("a.b")
    assert order == ["p0", "p1"]


def test_non_str_names_are_exact_only() -> None:
    em = EventEmitter(wildcard=True)
    key = ("order", "*")
    calls: list[object] = []
    em.on(key, calls.append)
    em.on("**", calls.append)
    em.emit(key, 1)
    em.emit(("order", "x"), 2)
    em.emit(3, 3)
    assert calls == [1]


def test_off_and_remove_all_work_on_the_pattern() -> None:
    em = EventEmitter(wildcard=True)
    calls: list[str] = []

    def a() -> None:
        calls.append("a")

    def b() -> None:
        calls.append("b")

    em.on("x.*", a)
    em.on("*.y", a)
    em.on("x.*", b)
    em.off("x.*", a)
    em.emit("x.y")
    assert calls == ["a", "b"]  # the "*.y" registration of a is still there

    em.remove_all_listeners("x.*")
    calls.clear()
    em.emit("x.y")
    assert calls == ["a"]
    assert em.listeners("*.y") == [a]
    assert em.event_names() == ["*.y"]
    em.remove_all_listeners()
    assert em.emit("x.y") is False


def test_once_pattern_listener() -> None:
    em = EventEmitter(wildcard=True)
    calls: list[object] = []
    em.once("device.*.motion", calls.append)
    em.emit("device.hall.motion", 1)
    em.emit("device.hall.motion", 2)
    assert calls == [1]
    assert em.event_names() == []


def test_cache_is_invalidated_by_changes() -> None:
    em = EventEmitter(wildcard=True)
    calls: list[str] = []
    assert em.emit("a.b") is False
    em.on("a.*", lambda: calls.append("p"))
    assert em.emit("a.b") is True
    em.on("a.b", lambda: calls.append("e"))
    em.emit("a.b")
    em.remove_all_listeners("a.*")
    em.emit("a.b")
    assert calls == ["p", "e", "p", "e"]


def test_many_distinct_names_do_not_grow_the_cache_without_bound() -> None:
    em = EventEmitter(wildcard=True)
    calls: list[int] = []
    em.on("order.*", calls.append)
    for i in range(10_000):
        em.emit(f"order.{i}", i)
    assert len(calls) == 10_000
    assert len(em._table) <= 4096


def test_double_star_must_be_last() -> None:
    em = EventEmitter(wildcard=True)
    with pytest.raises(ValueError, match=r"\*\*"):
        em.on("a.**.b", print)
    assert em.emit("a.**.b") is False  # emitting such a name is fine
    assert em.event_names() == []


def test_emitting_a_pattern_name_reaches_its_listener_once() -> None:
    em = EventEmitter(wildcard=True)
    calls = recorder(em, "a.*")
    em.emit("a.*")
    assert calls == [("a.*", ())]


def test_patterns_can_handle_errors() -> None:
    em = EventEmitter(wildcard=True)
    seen: list[str] = []
    with pytest.raises(UnhandledErrorEvent):
        em.emit("error", "x")
    em.on(ERROR_MONITOR, lambda e: seen.append("monitor"))
    em.on("*", lambda e: seen.append("star"))
    assert em.emit("error", "x") is True
    em.remove_all_listeners("*")
    with pytest.raises(UnhandledErrorEvent):
        em.emit("error", "y")
    assert seen == ["monitor", "star", "monitor"]


def test_pattern_listeners_hear_meta_events() -> None:
    em = EventEmitter(wildcard=True)
    seen: list[object] = []
    em.on("*", lambda *args: seen.append(args[0]))
    em.on("x", print)
    em.off("x", print)
    assert seen == ["x", "x"]  # new_listener then remove_listener


def test_max_listeners_counts_per_pattern() -> None:
    em = EventEmitter(wildcard=True).set_max_listeners(1)
    em.on("a.*", print)
    em.on("a.b", print)
    with pytest.warns(MaxListenersExceededWarning, match=r"2 a\.\* listeners"):
        em.on("a.*", print)
