"""Small reads run on the event loop's thread; larger pages, busy files and slow
reads go to the reader threads, with the same results."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from eventflux import ConfigurationError, EventStore, NewEvent, open_store
from eventflux.store.sqlite import SQLiteStoreBackend
from eventflux.store.sqlite import inline as inline_module
from eventflux.store.sqlite.inline import DECLINED, InlineReads


def ev(i: int) -> NewEvent:
    return NewEvent("Happened", {"i": i})


def backend(store: EventStore) -> SQLiteStoreBackend:
    b = store.backend
    assert isinstance(b, SQLiteStoreBackend)
    return b


async def everything(store: EventStore) -> dict[str, Any]:
    """What a set of reads returns, in a comparable form."""

    def shape(events: list[Any]) -> list[tuple[Any, ...]]:
        return [(e.position, e.stream, e.version, e.data["i"]) for e in events]

    return {
        "all": shape([e async for e in store.read_all()]),
        "after": shape([e async for e in store.read_all(after=7, limit=150)]),
        "prefix": shape([e async for e in store.read_all(stream_prefix="b", limit=40)]),
        "stream": shape([e async for e in store.read("a")]),
        "from": shape([e async for e in store.read("a", from_version=5, limit=90)]),
        "back": shape([e async for e in store.read("a", backwards=True)]),
        "back_from": shape([e async for e in store.read("a", backwards=True, from_version=30)]),
        "version": await store.stream_version("a"),
        "last": await store.last_position(),
        "head": await store.head_position(),
    }


@pytest.mark.asyncio
async def test_reads_larger_than_the_inline_rows_read_the_same_as_on_threads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.db"
    async with await open_store(f"sqlite:///{path}") as store:
        await store.append("a", [ev(i) for i in range(100)])
        await store.append("b", [ev(i) for i in range(60)])
    async with await open_store(f"sqlite:///{path}?inline_rows=0") as threads:
        expected = await everything(threads)
        assert backend(threads)._inline.inline == 0
    async with await open_store(f"sqlite:///{path}?inline_rows=16") as store:
        assert await everything(store) == expected
        assert backend(store)._inline.inline > 0
    assert len(expected["all"]) == 160
    assert [v for _, _, v, _ in expected["back"]] == list(range(100, 0, -1))
    assert [v for _, _, v, _ in expected["back_from"]] == list(range(30, 0, -1))


@pytest.mark.asyncio
async def test_a_live_subscription_reads_the_tail_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_module, "SLOW", 60.0)  # a loaded machine pauses nothing here
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        inline = backend(store)._inline
        seen: list[int] = []
        sub = store.subscribe()
        for i in range(5):
            await store.append("s", [ev(i)])
            seen.append((await anext(sub)).data["i"])
        await sub.aclose()
        assert seen == list(range(5))
        assert inline.inline >= 5


def test_a_busy_file_declines_and_other_errors_propagate() -> None:
    conn = sqlite3.connect(":memory:")
    reads = InlineReads(8, lambda: conn)

    def busy(_: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database is locked")

    def broken(_: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("no such table: x")

    assert reads.run(busy) is DECLINED
    assert reads.declined == 1
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        reads.run(broken)
    assert reads.run(lambda c: c.execute("SELECT 2").fetchall()) == [(2,)]
    conn.close()


def test_two_slow_reads_in_a_row_send_the_next_ones_to_the_threads_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]  # the module's clocks, moved by hand: no real waiting
    monkeypatch.setattr(inline_module, "monotonic", lambda: now[0])
    monkeypatch.setattr(inline_module, "perf_counter", lambda: now[0])
    conn = sqlite3.connect(":memory:")
    reads = InlineReads(8, lambda: conn)
    assert reads.limit(100) == 8
    assert reads.limit(3) == 3

    def slow(_: sqlite3.Connection) -> int:
        now[0] += inline_module.SLOW * 2
        return 1

    def fast(_: sqlite3.Connection) -> int:
        return 2

    assert reads.run(slow) == 1  # once may be a wait for the GIL
    assert reads.limit(100) == 8
    assert reads.run(fast) == 2
    reads.run(slow)
    assert reads.limit(100) == 8
    assert reads.run(slow) == 1  # twice in a row: the next ones go to the threads
    assert reads.limit(100) == 0
    now[0] += 0.11
    assert reads.limit(100) == 8
    reads.run(slow)
    reads.run(slow)  # slow again: a longer pause
    now[0] += 0.11
    assert reads.limit(100) == 0
    now[0] += 0.1
    assert reads.limit(100) == 8
    reads.run(fast)  # fast: the pause is short again
    reads.run(slow)
    reads.run(slow)
    now[0] += 0.11
    assert reads.limit(100) == 8
    conn.close()


@pytest.mark.asyncio
async def test_a_declined_read_is_read_on_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        await store.append("s", [ev(i) for i in range(3)])
        monkeypatch.setattr(InlineReads, "run", lambda self, fn, *args: DECLINED)
        assert [e.version async for e in store.read("s")] == [1, 2, 3]
        assert [e.position async for e in store.read_all()] == [1, 2, 3]
        assert await store.stream_version("s") == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
async def test_a_bad_inline_rows_option_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match="inline_rows"):
        await open_store(f"sqlite:///{tmp_path}/e.db?inline_rows={value}")
    assert not (tmp_path / "e.db").exists()
