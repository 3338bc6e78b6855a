"""What the SQLite event store adds to the contract: files, URLs, durability,
group commit, busy timeouts, and wake-ups across stores and processes."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import SafeUUID

import pytest

from eventflux import (
    NO_STREAM,
    AppendResult,
    ConcurrencyError,
    ConfigurationError,
    DuplicateEventError,
    EventStore,
    NewEvent,
    NotAnEventStoreError,
    RecordedEvent,
    StoreBusyError,
    StoreUnavailableError,
    StreamDeletedError,
    open_store,
)
from eventflux._internal.sqlite_writer import SQLiteWriter
from eventflux.store.sqlite import SQLiteStoreBackend, writes

CHILD = Path(__file__).with_name("_append_child.py")


def ev(**data: Any) -> NewEvent:
    return NewEvent("Happened", data)


async def collect(it: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    return [e async for e in it]


async def _wait_until(predicate: Any, seconds: float = 10.0) -> None:
    """Wait for a condition that another thread or task makes true."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the condition has no event to wait on
            await asyncio.sleep(0.005)


def sqlite_backend(store: EventStore) -> SQLiteStoreBackend:
    """The store's SQLite backend (its path, writer and watcher)."""
    backend = store.backend
    assert isinstance(backend, SQLiteStoreBackend)
    return backend


def _writer_pragma(store: EventStore, pragma: str) -> Any:
    writer = sqlite_backend(store).writer
    assert writer is not None
    return writer.submit(lambda conn, now, careful: conn.execute(pragma).fetchall()[0][0])


# -- files and URLs -----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_events_persist_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bank.db"
    async with await open_store(url) as store:
        r = await store.append("acct", [ev(n=1), ev(n=2)], expected_version=NO_STREAM)
        await store.save_snapshot("acct", 2, {"total": 3})
    async with await open_store(url) as store:
        assert [e.data["n"] for e in await collect(store.read("acct"))] == [1, 2]
        assert await store.stream_version("acct") == 2
        snap = await store.load_snapshot("acct")
        assert snap is not None
        assert snap.data == {"total": 3}
        r2 = await store.append("acct", [ev(n=3)], expected_version=2)
        assert r2.position > r.position
        assert [e.position for e in await collect(store.read_all())][-1] == r2.position


@pytest.mark.asyncio
async def test_url_paths_are_relative_with_three_slashes_absolute_with_four(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_store("sqlite:///relative.db") as store:
        await store.append("s", [ev()])
        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")  # the store keeps using its file
        assert await store.stream_version("s") == 1
    assert (tmp_path / "relative.db").is_file()
    (tmp_path / "sub").mkdir()
    async with await open_store(f"sqlite:///{tmp_path}/sub/absolute%20name.db") as store:
        assert sqlite_backend(store).path == f"/{tmp_path}/sub/absolute name.db".replace("//", "/")
    assert (tmp_path / "sub" / "absolute name.db").is_file()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://", "file path"),
        ("sqlite:///", "file path"),
        ("sqlite:///:memory:", "memory://"),
        ("sqlite://host/x.db", "no host"),
        ("sqlite:///x.db?durability=sometimes", "durability"),
        ("sqlite:///x.db?busy_timeout=0", "busy_timeout"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
        ("sqlite:///x.db?max_event_bytes=0", "max_event_bytes"),
        ("sqlite:///x.db?colour=blue", "colour"),
    ],
)
async def test_bad_urls_are_refused_clearly(
    url: str, words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=words.replace("?", r"\?")):
        await open_store(url)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - nothing was created


@pytest.mark.asyncio
async def test_a_folder_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="folder"):
        await open_store(f"sqlite:///{tmp_path}")
    with pytest.raises(StoreUnavailableError, match="folder"):
        await open_store(f"sqlite:///{tmp_path}/missing/events.db")


@pytest.mark.asyncio
async def test_a_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('first'), ('second')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NotAnEventStoreError, match="customers"):
        await open_store(f"sqlite:///{path}")
    assert path.read_bytes() == before
    files = sorted(p.name for p in tmp_path.iterdir())  # noqa: ASYNC240
    assert files == ["app.db"]  # no -wal, no -shm
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchall() == [("delete",)]
    assert conn.execute("SELECT name FROM customers ORDER BY id").fetchall() == [
        ("first",),
        ("second",),
    ]
    conn.close()


@pytest.mark.asyncio
async def test_a_file_that_is_not_sqlite_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    text = b"These are my notes, not a database.\n" * 200
    path.write_bytes(text)
    with pytest.raises(NotAnEventStoreError, match="not a SQLite database"):
        await open_store(f"sqlite:///{path}")
    assert path.read_bytes() == text


def test_processes_creating_one_new_file_at_once_agree_on_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), url, "feed", "1", "0"], stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        assert out.strip() == b"done"

    async def check() -> None:
        async with await open_store(url) as store:
            assert await store.stream_version("feed") == 4

    asyncio.run(check())


@pytest.mark.asyncio
async def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url):
        pass
    conn = sqlite3.connect(tmp_path / "e.db")
    conn.execute("UPDATE eventflux_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(NotAnEventStoreError, match="newer"):
        await open_store(url)


@pytest.mark.asyncio
async def test_the_file_is_in_wal_mode_and_durable_by_default(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/full.db") as store:
        assert await _writer_pragma(store, "PRAGMA synchronous") == 2  # FULL
        assert await _writer_pragma(store, "PRAGMA journal_mode") == "wal"
    async with await open_store(f"sqlite:///{tmp_path}/normal.db?durability=normal") as store:
        assert await _writer_pragma(store, "PRAGMA synchronous") == 1  # NORMAL
        await store.append("s", [ev()])
        assert await store.stream_version("s") == 1
    async with await open_store(f"sqlite:///{tmp_path}/n2.db?durability=FULL") as store:
        assert await _writer_pragma(store, "PRAGMA synchronous") == 2


@pytest.mark.asyncio
async def test_stored_columns_have_the_documented_types(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        e = NewEvent("Deposited", {"amount": 5})
        await store.append("acct", [e, NewEvent("Noted", {}, metadata={"user": "u-1"})])
        (first, _) = await collect(store.read("acct"))
    conn = sqlite3.connect(tmp_path / "e.db")
    rows = conn.execute(
        "SELECT id, typeof(id), typeof(data), metadata, recorded_at FROM eventflux_events"
    ).fetchall()
    conn.close()
    assert rows[0][0] == e.id.bytes
    assert rows[0][1:4] == ("blob", "blob", b"")
    micros = rows[0][4]
    assert isinstance(micros, int)
    assert first.recorded_at.timestamp() == pytest.approx(micros / 1e6, abs=1e-6)


@pytest.mark.asyncio
async def test_read_ids_are_ordinary_uuids(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        e = NewEvent("Deposited", {"amount": 5})
        await store.append("acct", [e])
        (got,) = await collect(store.read("acct"))
    assert got.id == e.id
    assert hash(got.id) == hash(e.id)
    assert str(got.id) == str(e.id)
    assert got.id.version == 7
    assert got.id.is_safe is SafeUUID.unknown
    assert pickle.loads(pickle.dumps(got.id)) == e.id
    assert {got.id: 1}[e.id] == 1


# -- one writer, group commit -------------------------------------------------------------
@pytest.mark.asyncio
async def test_group_commit_gives_each_caller_its_own_outcome(tmp_path: Path) -> None:
    path = tmp_path / "group.db"
    store = await open_store(f"sqlite:///{path}?busy_timeout=30")
    try:
        await store.append("taken", [ev()])
        retried = [ev(r=1), ev(r=2)]
        original = await store.append("retry", retried)
        await store.delete_stream("gone", hard=True)
        writer = sqlite_backend(store).writer
        assert writer is not None
        tx_before, requests_before = writer.transactions, writer.requests
        submitted_before = writer.submitted

        # another connection holds the write lock: the requests queue up meanwhile
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        jobs: list[tuple[str, Any]] = []
        jobs += [("ok", store.append(f"free-{i}", [ev(i=i)], NO_STREAM)) for i in range(20)]
        jobs += [("race", store.append("race", [ev(i=i)], NO_STREAM)) for i in range(5)]
        jobs += [("conflict", store.append("taken", [ev()], NO_STREAM)) for _ in range(3)]
        jobs += [("retry", store.append("retry", retried, NO_STREAM)) for _ in range(2)]
        jobs += [("deleted", store.append("gone", [ev()])) for _ in range(2)]
        jobs += [("duplicate", store.append("elsewhere", [retried[0]])) for _ in range(2)]
        jobs.append(
            ("conflict", store.append_many({"m-1": ([ev()], NO_STREAM), "taken": ([ev()], 0)}))
        )
        tasks = [asyncio.ensure_future(coro) for _, coro in jobs]
        await _wait_until(lambda: writer.submitted - submitted_before == len(jobs))
        await asyncio.sleep(0.05)  # the writer is blocked in BEGIN IMMEDIATE meanwhile
        assert writer.requests == requests_before
        raw.execute("ROLLBACK")
        raw.close()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)

        assert writer.requests - requests_before == len(jobs)
        assert writer.transactions - tx_before <= 2  # one blocked request, then the rest
        races = []
        for (kind, _), outcome in zip(jobs, outcomes, strict=True):
            if kind == "ok":
                assert isinstance(outcome, AppendResult)
                assert outcome.first_version == 1
            elif kind == "race":
                races.append(outcome)
            elif kind == "conflict":
                assert isinstance(outcome, ConcurrencyError)
            elif kind == "retry":
                assert outcome == original
            elif kind == "deleted":
                assert isinstance(outcome, StreamDeletedError)
            else:
                assert isinstance(outcome, DuplicateEventError)
        winners = [r for r in races if isinstance(r, AppendResult)]
        assert len(winners) == 1
        assert all(isinstance(r, ConcurrencyError) for r in races if r not in winners)

        for i in range(20):
            assert await store.stream_version(f"free-{i}") == 1
        assert await store.stream_version("race") == 1
        assert await store.stream_version("taken") == 1
        assert await store.stream_version("retry") == 2
        assert await store.stream_version("m-1") == 0
        assert await store.stream_version("elsewhere") == 0
        events = await collect(store.read_all())
        assert len(events) == 1 + 2 + 20 + 1
        assert [e.position for e in events] == sorted({e.position for e in events})
    finally:
        await store.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("most", [4096, 100])
async def test_appends_of_one_group_run_together_and_each_gets_its_own_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    """Appends that queue up while the writer waits share one INSERT (padded
    to a power of two rows, 64 at most per statement): every caller gets the
    versions and the position of its own last event, as the log stores them.
    With ``most`` 100, the appends that do not fit the joint INSERT run alone
    after it, and get theirs just as well."""
    monkeypatch.setattr(writes, "_JOINT_MAX_ROWS", most)
    joint: list[int] = []
    real = writes.AppendJob.run_together.__func__  # type: ignore[attr-defined]

    def run_together(cls: Any, conn: Any, jobs: list[Any], now_us: int) -> list[Any]:
        joint.append(len(jobs))
        return real(cls, conn, jobs, now_us)  # type: ignore[no-any-return]

    monkeypatch.setattr(writes.AppendJob, "run_together", classmethod(run_together))
    path = tmp_path / "joint.db"
    store = await open_store(f"sqlite:///{path}?busy_timeout=30")
    try:
        await store.append("old-0", [ev()])  # streams that have a row already
        await store.append("old-1", [ev(), ev()])
        writer = sqlite_backend(store).writer
        assert writer is not None
        tx_before, submitted_before = writer.transactions, writer.submitted
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")  # the requests queue up meanwhile
        sizes = [1, 3, 64, 65, 7, 1, 130, 2, 5, 1]
        calls: list[tuple[dict[str, int], Any]] = []
        for i, n in enumerate(sizes):
            calls.append(({f"s-{i}": n}, store.append(f"s-{i}", [ev(k=k) for k in range(n)])))
        calls.append(({"old-0": 2}, store.append("old-0", [ev(), ev()], 1)))
        calls.append(({"old-1": 1}, store.append("old-1", [ev()])))
        calls.append(
            (
                {"m-a": 2, "m-b": 3},
                store.append_many(
                    {"m-a": ([ev(), ev()], NO_STREAM), "m-b": ([ev(), ev(), ev()], NO_STREAM)}
                ),
            )
        )
        tasks = [asyncio.ensure_future(coro) for _, coro in calls]
        await _wait_until(lambda: writer.submitted - submitted_before == len(calls))
        raw.execute("ROLLBACK")
        raw.close()
        outcomes = await asyncio.gather(*tasks)
        assert writer.transactions - tx_before <= 2  # one blocked request, then the rest
        assert max(joint) >= len(calls) - 1  # all (but the blocked one) were offered

        log = await collect(store.read_all())
        by_position = {e.position: e for e in log}
        assert sorted(by_position) == [e.position for e in log]  # unique, in order
        versions_before = {"old-0": 1, "old-1": 2}
        for (counts, _), outcome in zip(calls, outcomes, strict=True):
            results = outcome if isinstance(outcome, dict) else {next(iter(counts)): outcome}
            for stream, n in counts.items():
                result = results[stream]
                first = versions_before.get(stream, 0) + 1
                assert (result.first_version, result.last_version) == (first, first + n - 1)
                last = by_position[result.position]  # the caller's own last event
                assert (last.stream, last.version) == (stream, first + n - 1)
                mine = [e for e in log if e.stream == stream and e.version >= first]
                assert [e.version for e in mine] == list(range(first, first + n))
                assert mine[-1].position == result.position
        assert len(log) == 3 + sum(n for counts, _ in calls for n in counts.values())
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_a_conflicting_append_of_a_group_is_refused_without_running_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The joint path answers conflicts and deleted streams itself (when none of
    the refused appends' ids is stored), as the careful path would."""
    alone: list[Any] = []
    real_run_one = SQLiteWriter._run_one

    def run_one(self: SQLiteWriter, conn: Any, job: Any, now_us: int) -> Any:
        alone.append(job)
        return real_run_one(self, conn, job, now_us)

    monkeypatch.setattr(SQLiteWriter, "_run_one", run_one)
    path = tmp_path / "refused.db"
    store = await open_store(f"sqlite:///{path}?busy_timeout=30")
    try:
        await store.append("taken", [ev(), ev()])
        await store.delete_stream("gone", hard=True)
        writer = sqlite_backend(store).writer
        assert writer is not None
        submitted_before = writer.submitted
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        calls: list[Any] = [store.append(f"ok-{i}", [ev()], NO_STREAM) for i in range(4)]
        calls += [store.append("taken", [ev()], 1), store.append("taken", [ev()], NO_STREAM)]
        calls.append(store.append("gone", [ev()]))
        calls.append(store.append_many({"ok-x": ([ev()], NO_STREAM), "taken": ([ev()], 5)}))
        tasks = [asyncio.ensure_future(c) for c in calls]
        await _wait_until(lambda: writer.submitted - submitted_before == len(calls))
        alone.clear()
        raw.execute("ROLLBACK")
        raw.close()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(alone) <= 1  # at most the request the writer took first, alone
        assert all(isinstance(o, AppendResult) for o in outcomes[:4])
        conflicts = [o for o in outcomes[4:6] + outcomes[7:] if isinstance(o, ConcurrencyError)]
        assert [(c.stream, c.expected, c.actual) for c in conflicts] == [
            ("taken", 1, 2),
            ("taken", 0, 2),
            ("taken", 5, 2),
        ]
        assert isinstance(outcomes[6], StreamDeletedError)
        assert await store.stream_version("taken") == 2
        assert await store.stream_version("ok-x") == 0  # all of append_many, or none
        assert len(await collect(store.read_all())) == 2 + 4
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_stores_on_one_file_in_one_process_share_the_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    a, b = await open_store(url), await open_store(url)
    try:
        assert sqlite_backend(a).writer is sqlite_backend(b).writer is not None
        await asyncio.gather(*(s.append("s", [ev()]) for s in (a, b) for _ in range(10)))
        assert await a.stream_version("s") == 20
    finally:
        await a.close()
    await b.append("s", [ev()])  # the writer lives on while b uses it
    assert await b.stream_version("s") == 21
    await b.close()


# -- locks ----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_lock_held_too_long_raises_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with await open_store(f"sqlite:///{path}?busy_timeout=0.2") as store:
        await store.append("s", [ev()])
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreBusyError, match="busy_timeout") as info:
                await store.append("s", [ev()])
            assert isinstance(info.value, TimeoutError)
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
            with pytest.raises(StoreBusyError):
                await store.delete_stream("s")
            # reads are not held up by the writer's lock
            assert len(await collect(store.read("s"))) == 1
            assert await store.stream_version("s") == 1
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        await store.append("s", [ev()])
        assert await store.stream_version("s") == 2


@pytest.mark.asyncio
async def test_an_open_read_transaction_does_not_hold_up_appends(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    async with await open_store(f"sqlite:///{path}?busy_timeout=0.2") as store:
        await store.append("s", [ev()])
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM eventflux_events").fetchall() == [(1,)]
        for _ in range(5):
            await store.append("s", [ev()])
        # the open reader still sees its snapshot; the store sees everything
        assert reader.execute("SELECT count(*) FROM eventflux_events").fetchall() == [(1,)]
        assert await store.stream_version("s") == 6
        reader.execute("COMMIT")
        reader.close()


# -- subscriptions across stores and processes ----------------------------------------------
@pytest.mark.asyncio
async def test_no_subscriber_no_polling(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        watcher = sqlite_backend(store).watcher
        await store.append("s", [ev()])
        assert len(await collect(store.read_all())) == 1
        assert not watcher.running
        sub = store.subscribe()
        assert (await anext(sub)).stream == "s"
        waiting = asyncio.ensure_future(anext(sub))
        await _wait_until(lambda: watcher.running)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await _wait_until(lambda: not watcher.running)  # it stops once nobody waits


async def _latencies(store: EventStore, count: int, sent_at: dict[int, float]) -> list[float]:
    out: list[float] = []
    async with asyncio.timeout(60):
        async for e in store.subscribe():
            arrived = time.time()
            out.append(arrived - sent_at.get(e.data["i"], e.data.get("t", arrived)))
            if len(out) == count:
                return out
    raise AssertionError("the subscription ended early")


@pytest.mark.asyncio
async def test_subscriber_wakes_for_appends_by_another_store_in_this_process(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url) as subscriber, await open_store(url) as appender:
        sent_at: dict[int, float] = {}
        task = asyncio.ensure_future(_latencies(subscriber, 20, sent_at))
        await asyncio.sleep(0.05)
        for i in range(20):
            sent_at[i] = time.time()
            await appender.append("s", [ev(i=i)])
            await asyncio.sleep(0.02)
        delays = await task
    assert max(delays) < 5.0
    assert statistics.median(delays) < 0.05, delays  # the promise: within 50 ms


@pytest.mark.asyncio
async def test_subscriber_wakes_for_appends_by_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url) as store:
        task = asyncio.ensure_future(_latencies(store, 20, {}))
        await asyncio.sleep(0.05)
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), url, "feed", "20", "0.03", stdout=subprocess.PIPE
        )
        out, _ = await child.communicate()
        assert child.returncode == 0
        assert out.strip() == b"done"
        delays = await task
    assert max(delays) < 5.0
    assert statistics.median(delays) < 0.05, delays


@pytest.mark.asyncio
async def test_closing_the_store_stops_the_watcher(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/e.db")
    watcher = sqlite_backend(store).watcher
    seen: list[RecordedEvent] = []

    async def consume() -> None:
        async for e in store.subscribe():
            seen.append(e)

    task = asyncio.ensure_future(consume())
    await _wait_until(lambda: watcher.running)
    await store.close()
    await asyncio.wait_for(task, 5)
    assert not watcher.running
    assert seen == []
