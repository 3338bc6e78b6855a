"""Global order readers can trust: a commit that comes late is never skipped.

The scenario of the commit-order problem: transaction A takes a lower position,
transaction B a higher one and commits first. A reader that reads B's event and
moves its checkpoint past A's position would never see A's event. The store
rules this out: B cannot draw a position while A holds the head row, so a
reader sees A's event before B's, or waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from tests.store.postgres._backend import pg

from eventflux import EventStore, NewEvent, RecordedEvent

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]

Opener = Callable[[str], Awaitable[EventStore]]


class Gate:
    """A pause hook: holds the writer's transaction at ``phase`` until released."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.fail: BaseException | None = None

    async def __call__(self, phase: str) -> None:
        if phase != self.phase:
            return
        self.reached.set()
        await self.release.wait()
        if self.fail is not None:
            raise self.fail


async def _tail_one_at_a_time(store: EventStore, n: int) -> list[RecordedEvent]:
    out: list[RecordedEvent] = []
    async for e in store.subscribe():
        out.append(e)
        if len(out) == n:
            break
    return out


async def _waiting_on_lock(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url.split("?")[0]) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_late_commit_with_lower_position_is_not_skipped(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    a = await opened(fresh_url())
    b = await opened(fresh_url())
    reader = await opened(fresh_url())
    reader.page_size = 1  # fetch one event at a time
    await a.append("warm-up", [NewEvent("W", {})])
    before = await reader.last_position()

    gate = Gate("drawn")
    pg(a).writer.pause = gate
    task_a = asyncio.create_task(a.append("a", [NewEvent("A", {})]))
    await asyncio.wait_for(gate.reached.wait(), 10)  # A drew its position, not committed

    task_b = asyncio.create_task(b.append("b", [NewEvent("B", {})]))
    tail = asyncio.create_task(_tail_one_at_a_time(reader, 3))
    await asyncio.sleep(0.5)
    # B may not draw a position (and commit) while A holds the head row: it waits.
    assert not task_b.done()
    assert await _waiting_on_lock(fresh_url()) >= 1
    # The reader sees the warm-up event only, and its safe mark stays below A.
    events, mark = await pg(reader).read_all_page(
        before, 10, types=None, prefix=None, codec=reader.codec
    )
    assert events == []
    assert mark == before
    assert not tail.done()

    gate.release.set()
    result_a = await asyncio.wait_for(task_a, 10)
    result_b = await asyncio.wait_for(task_b, 10)
    assert result_a.position < result_b.position
    seen = await asyncio.wait_for(tail, 10)
    assert [e.type for e in seen] == ["W", "A", "B"]
    assert [e.position for e in seen] == sorted(e.position for e in seen)


async def test_rolled_back_positions_are_never_shown(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    a = await opened(fresh_url())
    b = await opened(fresh_url())
    reader = await opened(fresh_url())
    reader.page_size = 1

    gate = Gate("drawn")
    gate.fail = RuntimeError("rolled back on purpose")
    pg(a).writer.pause = gate
    task_a = asyncio.create_task(a.append("a", [NewEvent("A", {})]))
    await asyncio.wait_for(gate.reached.wait(), 10)
    task_b = asyncio.create_task(b.append("b", [NewEvent("B", {})]))
    tail = asyncio.create_task(_tail_one_at_a_time(reader, 1))
    await asyncio.sleep(0.3)
    assert not task_b.done()
    gate.release.set()
    with pytest.raises(RuntimeError, match="on purpose"):
        await asyncio.wait_for(task_a, 10)
    result_b = await asyncio.wait_for(task_b, 10)
    (seen,) = await asyncio.wait_for(tail, 10)
    assert seen.type == "B"
    assert seen.position == result_b.position
    assert [e.type async for e in reader.read_all()] == ["B"]
    assert await a.stream_version("a") == 0


async def test_raw_transactions_with_the_backend_statements(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    """Drive the ordering statement by hand on two connections, as two processes
    would, and read between the steps."""
    store = await opened(fresh_url())
    st = pg(store).statements
    conninfo = pg(store).conninfo

    def params(stream: str, n: int = 1) -> dict[str, object]:
        import uuid

        return {
            "names": [stream],
            "versions": [n],
            "n": n,
            "ids": [uuid.uuid4() for _ in range(n)],
            "streams": [stream] * n,
            "evs": list(range(1, n + 1)),
            "types": ["Raw"] * n,
            "datas": [b"{}"] * n,
            "metas": [b""] * n,
            "svs": [1] * n,
            "cids": [None] * n,
            "channel": st.notify_channel,
            "token": "raw",
        }

    async with (
        await psycopg.AsyncConnection.connect(conninfo) as conn_a,
        await psycopg.AsyncConnection.connect(conninfo) as conn_b,
    ):
        for stream in ("a", "b"):
            await conn_a.execute(st.ensure_streams, ([stream],))
        await conn_a.commit()
        cur_a = await conn_a.execute(st.commit_events, params("a", 2))  # A: positions 1, 2
        row = await cur_a.fetchone()
        assert row is not None
        assert row[0] == 0
        b_done = asyncio.create_task(conn_b.execute(st.commit_events, params("b")))
        await asyncio.sleep(0.3)
        assert not b_done.done()  # B waits for A's head row: it cannot take position 3 yet
        assert [e async for e in store.read_all()] == []
        events, mark = await pg(store).read_all_page(
            0, 1, types=None, prefix=None, codec=store.codec
        )
        assert (events, mark) == ([], 0)
        await conn_a.commit()
        cur_b = await asyncio.wait_for(b_done, 10)
        row = await cur_b.fetchone()
        assert row is not None
        assert row[0] == 2
        # B is drawn but not committed: readers see A's events and may skip to 2 only.
        events, mark = await pg(store).read_all_page(
            0, 10, types=None, prefix=None, codec=store.codec
        )
        assert [e.position for e in events] == [1, 2]
        assert mark == 2
        await conn_b.commit()
    assert [(e.stream, e.position) async for e in store.read_all()] == [
        ("a", 1),
        ("a", 2),
        ("b", 3),
    ]


async def test_mark_skips_filtered_events_only_up_to_the_head(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    store = await opened(fresh_url())
    for i in range(5):
        await store.append(f"other-{i}", [NewEvent("Noise", {})])
    events, mark = await pg(store).read_all_page(
        0, 10, types=("Wanted",), prefix=None, codec=store.codec
    )
    assert events == []
    assert mark == await store.last_position() == 5
    await store.append("x", [NewEvent("Wanted", {})])
    events, mark = await pg(store).read_all_page(
        mark, 10, types=("Wanted",), prefix=None, codec=store.codec
    )
    assert [e.position for e in events] == [6]
    assert mark == 6
