"""Thread safety: emits race with additions and removals without errors or corruption."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from eventflux.emitter import EventEmitter


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guard(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.mark.parametrize("wildcard", [False, True])
def test_emitting_while_adding_and_removing_for_a_second(wildcard: bool) -> None:
    em = EventEmitter(wildcard=wildcard).set_max_listeners(0)
    name = "tick.a" if wildcard else "tick"
    once_calls = Counter[int]()

    def stable1(*args: Any) -> None: ...

    def stable2(*args: Any) -> None: ...

    stable = [stable1, stable2]
    calls_per_emit: list[int] = []
    emitted = itertools.count()
    returned_false: list[int] = []
    deadline = time.monotonic() + 1.0
    once_ids = itertools.count()
    registered_once: list[int] = []

    def emitter_thread() -> None:
        while time.monotonic() < deadline:
            seen: list[int] = []
            if not em.emit(name, seen):
                returned_false.append(1)
            next(emitted)
            calls_per_emit.append(seen.count(1))

    def recording(seen: list[int]) -> None:
        seen.append(1)

    em.on(name, recording)
    if wildcard:
        em.on("tick.*", stable[0])
        em.on("**", stable[1])
    else:
        em.on(name, stable[0])
        em.prepend_listener(name, stable[1])

    def mutator_thread() -> None:
        while time.monotonic() < deadline:

            def temporary(*args: Any) -> None: ...

            em.on(name, temporary)
            em.prepend_listener(name, temporary)
            if wildcard:
                em.on("tick.*", temporary)
                em.off("tick.*", temporary)
            em.off(name, temporary)
            em.off(name, temporary)

    def once_thread() -> None:
        while time.monotonic() < deadline:
            ident = next(once_ids)
            registered_once.append(ident)

            def fire(*args: Any, ident: int = ident) -> None:
                once_calls[ident] += 1

            em.once(name, fire)
            time.sleep(0.0005)

    def clearing_thread() -> None:
        while time.monotonic() < deadline:
            em.on("other", print)
            em.remove_all_listeners("other")
            em.event_names()
            em.listeners(name)
            em.listener_count(name)

    errors = run_threads(
        [emitter_thread] * 3 + [mutator_thread] * 2 + [once_thread, clearing_thread]
    )

    assert errors == []
    assert returned_false == []
    assert set(calls_per_emit) == {1}  # every emit saw the recording listener exactly once
    assert max(once_calls.values(), default=0) <= 1
    leftover = [fn for fn in em.listeners(name) if fn not in (recording, *stable)]
    assert len(leftover) + len(once_calls) == len(registered_once)
    for fn in leftover:
        em.off(name, fn)
    expected = [recording] if wildcard else [stable[1], recording, stable[0]]
    assert em.listeners(name) == expected
    assert "other" not in em.event_names()
    assert next(emitted) > 100


def emit_together(em: EventEmitter, name: str, threads: int) -> list[BaseException]:
    barrier = threading.Barrier(threads)

    def emit() -> None:
        barrier.wait()
        em.emit(name)

    return run_threads([emit] * threads)


@pytest.mark.parametrize("attempt", range(50))
def test_a_once_listener_runs_once_when_threads_emit_together(attempt: int) -> None:
    em = EventEmitter()
    calls: list[int] = []
    em.once("go", lambda: calls.append(1))
    assert emit_together(em, "go", 4) == []
    assert calls == [1]
    assert em.listener_count("go") == 0
