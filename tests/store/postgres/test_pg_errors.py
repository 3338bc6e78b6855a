"""PostgreSQL driver errors come out as the eventflux error that names their
cause (bad input is not an outage), and one append's bad input never fails the
other appends of its group, on the one-statement fast path too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from tests.store._loop import check_large_append
from tests.store.postgres._backend import pg

from eventflux import (
    ConcurrencyError,
    EventStore,
    InvalidArgumentError,
    StoreUnavailableError,
    StreamLimits,
)
from eventflux.codec import EncodedEvent, default_codec
from eventflux.store.backend import AppendBatch

pytestmark = pytest.mark.postgres

Opener = Callable[[str], Awaitable[EventStore]]


def _batch(stream: str, expected: int = 0, schema_version: int = 1) -> AppendBatch:
    return AppendBatch(
        stream, [EncodedEvent(uuid.uuid4(), "X", b"{}", b"", schema_version)], expected
    )


@pytest.mark.asyncio
async def test_values_out_of_range_are_bad_input_not_an_outage(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    store = await opened(fresh_url())
    backend = pg(store)
    cases: list[Callable[[], Awaitable[object]]] = [
        # bigint out of range on the server
        lambda: backend.read_all_page(0, 2**64, types=None, prefix=None, codec=default_codec),
        lambda: backend.save_snapshot("s", 2**63, "T", b"{}", 1),
        lambda: backend.set_stream_limits("s", StreamLimits(max_count=2**64)),
        lambda: backend.read_stream_page(
            "s", 0, 2**63, backwards=False, as_of=None, now=datetime.now(UTC), codec=default_codec
        ),
    ]
    for case in cases:
        with pytest.raises(InvalidArgumentError) as info:
            await case()
        assert not isinstance(info.value, StoreUnavailableError)
        assert "out of range" in str(info.value) or "64-bit" in str(info.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "general-path"])
async def test_one_bad_batch_fails_alone_in_its_group(
    fresh_url: Callable[..., str], opened: Opener, fast: bool
) -> None:
    store = await opened(fresh_url())
    backend = pg(store)
    if not fast:  # a stream with limits sends every group the two-step way
        await store.set_stream_limits("limited", max_count=1000)
    for round in range(5):
        names = [f"good-{round}-{i}" for i in range(30)]
        calls = [backend.append([_batch(n)]) for n in names]
        if not fast:
            calls.append(backend.append([_batch("limited", expected=round)]))
        calls.insert(10, backend.append([_batch("bad", schema_version=2**40)]))
        calls.insert(20, backend.append([_batch("huge", expected=2**63)]))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failed) == 2, failed
        assert isinstance(outcomes[10], InvalidArgumentError), outcomes[10]
        assert isinstance(outcomes[20], ConcurrencyError), outcomes[20]
        for n in names:
            assert await store.stream_version(n) == 1
    assert await store.stream_version("bad") == 0
    assert await store.stream_version("huge") == 0


@pytest.mark.asyncio
async def test_a_large_append_never_holds_the_event_loop_long(
    fresh_url: Callable[..., str],
) -> None:
    await check_large_append(fresh_url())
