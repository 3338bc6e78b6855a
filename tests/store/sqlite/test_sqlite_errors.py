"""SQLite driver errors come out as the eventflux error that names their cause:
a full disk mid-append, ints beyond 64 bits, values over SQLite's limits; and
one append's bad input fails that append only, never the others of its group."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventflux import (
    EventfluxError,
    EventStore,
    InvalidArgumentError,
    NewEvent,
    StoreUnavailableError,
    open_store,
)
from eventflux.codec import EncodedEvent, default_codec
from eventflux.store.backend import AppendBatch
from eventflux.store.sqlite import SQLiteStoreBackend


def _backend(store: EventStore) -> SQLiteStoreBackend:
    backend = store.backend
    assert isinstance(backend, SQLiteStoreBackend)
    return backend


async def _pragma(store: EventStore, sql: str) -> None:
    writer = _backend(store).writer
    assert writer is not None
    await writer.submit(lambda conn, now, careful: conn.execute(sql).fetchall())


def _batch(stream: str, expected: int = 0, schema_version: int = 1) -> AppendBatch:
    return AppendBatch(
        stream, [EncodedEvent(uuid.uuid4(), "X", b"{}", b"", schema_version)], expected
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("size", "count"),
    # large events: SQLite rolls the whole transaction back (the savepoint is gone);
    # many small ones: it rolls back the statement only
    [(300_000, 3), (4_000, 100)],
    ids=["transaction-lost", "statement-lost"],
)
async def test_a_full_disk_mid_append_says_so_and_stores_nothing(
    tmp_path: Path, size: int, count: int
) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        await store.append("small", [NewEvent("X", {"n": 1})])
        # the database may not grow past a few pages: the disk is "full"
        await _pragma(store, "PRAGMA max_page_count = 40")
        big = [NewEvent("Blob", {"blob": "x" * size, "i": i}) for i in range(count)]
        others = [store.append(f"other-{i}", [NewEvent("X", {"i": i})]) for i in range(20)]
        outcomes = await asyncio.gather(store.append("big", big), *others, return_exceptions=True)
        error = outcomes[0]
        assert isinstance(error, StoreUnavailableError), error
        assert "is full" in str(error)
        assert "savepoint" not in str(error)
        for i, outcome in enumerate(outcomes[1:]):
            if isinstance(outcome, BaseException):  # it shared the lost transaction
                assert isinstance(outcome, StoreUnavailableError), outcome
                assert "is full" in str(outcome)
                assert await store.stream_version(f"other-{i}") == 0
            else:
                assert await store.stream_version(f"other-{i}") == 1
        assert await store.stream_version("big") == 0
        # space again: the store works, and nothing of the failed append is there
        await _pragma(store, "PRAGMA max_page_count = 1073741823")
        await store.append("big", big, expected_version=0)
        assert len([e async for e in store.read("big")]) == count


@pytest.mark.asyncio
async def test_ints_beyond_64_bits_below_the_facade_are_typed(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        backend = _backend(store)
        codec = default_codec
        with pytest.raises(InvalidArgumentError, match="64-bit"):
            await backend.read_stream_page(
                "s", 2**64, 10, backwards=False, as_of=None, now=datetime.now(UTC), codec=codec
            )
        with pytest.raises(InvalidArgumentError):
            await backend.read_all_page(2**64, 10, types=None, prefix=None, codec=codec)
        with pytest.raises(InvalidArgumentError):
            await backend.save_snapshot("s", 2**64, "T", b"{}", 1)


@pytest.mark.asyncio
async def test_one_bad_batch_fails_alone_in_its_group(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        backend = _backend(store)
        for _ in range(5):
            calls = [backend.append([_batch(f"good-{uuid.uuid4()}")]) for _ in range(30)]
            calls.insert(10, backend.append([_batch("bad", schema_version=2**64)]))
            calls.insert(20, backend.append([_batch("huge", expected=2**63)]))
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(failed) == 2, failed
            assert isinstance(outcomes[10], InvalidArgumentError)
            assert isinstance(outcomes[20], EventfluxError)  # ConcurrencyError
        assert await store.stream_version("bad") == 0
        assert len([e async for e in store.read_all()]) == 150
