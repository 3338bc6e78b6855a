"""Waiting out an outage: unavailable errors are retried with a doubling pause,
other errors and errors while giving up propagate."""

from __future__ import annotations

import pytest

from eventflux import (
    BusUnavailableError,
    SerializationError,
    StoreClosedError,
    StoreUnavailableError,
)
from eventflux._internal.retrying import while_unavailable


@pytest.mark.asyncio
async def test_unavailable_errors_are_retried_with_a_doubling_pause() -> None:
    errors = [BusUnavailableError("bus down"), StoreUnavailableError("store down")]
    told: list[tuple[str, float]] = []

    async def op() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    result = await while_unavailable(op, lambda e, p: told.append((str(e), p)), first=0.001)
    assert result == "done"
    assert told == [("bus down", 0.001), ("store down", 0.002)]


@pytest.mark.asyncio
async def test_other_errors_and_errors_while_giving_up_propagate() -> None:
    async def closed() -> None:
        raise StoreClosedError("closed")

    with pytest.raises(StoreClosedError):
        await while_unavailable(closed, lambda e, p: None)

    async def down() -> None:
        raise BusUnavailableError("down")

    told: list[float] = []
    with pytest.raises(BusUnavailableError):
        await while_unavailable(down, lambda e, p: told.append(p), give_up=lambda: True)
    assert told == []


@pytest.mark.asyncio
async def test_the_errors_to_retry_and_those_never_to_retry_can_be_named() -> None:
    errors: list[Exception] = [ConnectionError("reset"), RuntimeError("odd")]
    told: list[str] = []

    async def op() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    async def bad_input() -> None:
        raise SerializationError("not JSON")  # an EventfluxError and a TypeError

    result = await while_unavailable(
        op, lambda e, p: told.append(str(e)), first=0.001, retry=(Exception,)
    )
    assert (result, told) == ("done", ["reset", "odd"])
    with pytest.raises(SerializationError):
        await while_unavailable(
            bad_input, lambda e, p: told.append(str(e)), retry=(Exception,), never=(TypeError,)
        )
    assert told == ["reset", "odd"]  # never retried
