"""The event store's and the projections' structured log lines: one ``append``
line per stream written (DEBUG, logger ``eventflux.store``) and one
``projection batch`` line per committed batch (DEBUG, ``eventflux.projections``),
each with the ids a reader follows a request by."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventflux import NewEvent, open_store
from eventflux.context import metadata_context
from eventflux.cqrs import Projection, Transaction, handles, open_read_model

Lines = Callable[[str], list[dict[str, Any]]]
LOGGERS = ("eventflux.store", "eventflux.projections")


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    """The JSON lines one of ``LOGGERS`` wrote so far (at DEBUG), parsed."""
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)

    def read(event: str) -> list[dict[str, Any]]:
        unique = {id(r): r for r in caplog.records if r.name in LOGGERS}
        parsed = [
            {**json.loads(r.getMessage()), "levelno": r.levelno}
            for r in unique.values()
            if r.getMessage().startswith("{")
        ]
        return [x for x in parsed if x["event"] == event]

    try:
        yield read
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(caplog.handler)
            logging.getLogger(name).setLevel(saved[name])


class Totals(Projection):
    name = "totals"

    def create_schema(self, tx: Transaction) -> None:
        tx.execute("CREATE TABLE totals (account TEXT PRIMARY KEY, amount INTEGER NOT NULL)")

    @handles("Deposited")
    def deposited(self, event: dict[str, Any], tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO totals VALUES (:a, :n) "
            "ON CONFLICT (account) DO UPDATE SET amount = amount + :n",
            {"a": event["account"], "n": event["amount"]},
        )


@pytest.mark.asyncio
async def test_append_lines_carry_stream_versions_and_ids(lines: Lines) -> None:
    async with await open_store("memory://") as store:
        batch = [NewEvent("Deposited", {"account": "a", "amount": 5}) for _ in range(2)]
        with metadata_context(correlation_id="corr-1", causation_id="cmd-1"):
            await store.append("account-a", batch)
            await store.append("account-a", batch)  # the same ids again: a retry
            await store.append_many({
                "account-b": ([NewEvent("Deposited", {"account": "b", "amount": 1})], 0),
                "account-c": ([NewEvent("Deposited", {"account": "c", "amount": 2})], 0),
            })  # fmt: skip

    first, retry, b, c = lines("append")
    assert first["levelno"] == logging.DEBUG
    assert (first["stream"], first["events"]) == ("account-a", 2)
    assert first["event_ids"] == [str(e.id) for e in batch]
    assert (first["first_version"], first["last_version"], first["position"]) == (1, 2, 2)
    assert (first["correlation_id"], first["causation_id"]) == ("corr-1", "cmd-1")
    assert first["retried"] is False
    assert first["duration_ms"] >= 0
    assert retry["retried"] is True
    assert retry["position"] == 2
    assert [(x["stream"], x["position"]) for x in (b, c)] == [("account-b", 3), ("account-c", 4)]


@pytest.mark.asyncio
async def test_no_append_line_while_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("eventflux.store").setLevel(logging.INFO)
    try:
        async with await open_store("memory://") as store:
            await store.append("account-a", [NewEvent("Deposited", {"amount": 1})])
    finally:
        logging.getLogger("eventflux.store").setLevel(logging.NOTSET)
    assert not [r for r in caplog.records if r.name == "eventflux.store"]


@pytest.mark.asyncio
async def test_one_projection_batch_line_per_committed_batch(lines: Lines, tmp_path: Path) -> None:
    async with await open_store("memory://") as store:
        for i in range(5):
            with metadata_context(correlation_id=f"corr-{i % 2}"):
                await store.append(
                    f"account-{i}", [NewEvent("Deposited", {"account": "x", "amount": i})]
                )
        await store.append("misc", [NewEvent("Ignored", {})])
        totals = Totals(open_read_model(f"sqlite:///{tmp_path}/read.db"))
        totals.batch_size = 4
        try:
            assert await totals.catch_up(store) == 6  # the unhandled one counts too
            await totals.rebuild(store)
        finally:
            await totals.model.close()

    live = [x for x in lines("projection batch") if not x["rebuild"]]
    assert [(x["events"], x["applied"], x["first_position"], x["last_position"]) for x in live] == [
        (4, 4, 1, 4),
        (2, 2, 5, 6),
    ]
    assert live[-1]["checkpoint"] == 6
    assert live[0]["projection"] == "totals"
    assert live[0]["correlation_ids"] == ["corr-0", "corr-1"]
    assert live[0]["levelno"] == logging.DEBUG
    assert live[0]["duration_ms"] >= 0
    assert any(x["rebuild"] for x in lines("projection batch"))  # the rebuild's batches too
