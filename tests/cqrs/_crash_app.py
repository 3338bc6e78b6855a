"""Slow projections for the crash tests, on an App that ``eventflux projections
run NAME --app tests.cqrs._crash_app:app --store URL`` runs.

The read model's URL comes from ``$EVENTFLUX_TEST_READ_URL`` (a SQLite file or
a PostgreSQL schema), else it is ``crash-read`` beside the event store.
``tick-counter`` has a plain handler (batches on the writer thread),
``async-tick-counter`` an ``async def`` one (batches on the event loop).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from eventflux import App, RecordedEvent
from eventflux.cqrs import Projection, Transaction, handles


class TickCounter(Projection):
    name = "tick-counter"
    batch_size = 20

    def create_schema(self, tx: Transaction) -> None:
        tx.script(
            """
            CREATE TABLE applied (position BIGINT NOT NULL, n BIGINT NOT NULL);
            CREATE TABLE totals (id INTEGER PRIMARY KEY, count BIGINT NOT NULL,
                                 sum BIGINT NOT NULL);
            INSERT INTO totals VALUES (1, 0, 0);
            """
        )

    def _count(self, tx: Transaction, n: int, position: int) -> None:
        tx.execute("INSERT INTO applied VALUES (:position, :n)", {"position": position, "n": n})
        tx.execute("UPDATE totals SET count = count + 1, sum = sum + :n WHERE id = 1", {"n": n})

    @handles("Tick")
    def tick(self, event: dict[str, Any], tx: Transaction, recorded: RecordedEvent) -> None:
        time.sleep(0.0005)  # slow enough to be killed mid-batch
        self._count(tx, event["n"], recorded.position)


class AsyncTickCounter(TickCounter):
    name = "async-tick-counter"

    @handles("Tick")
    async def tick(self, event: dict[str, Any], tx: Transaction, recorded: RecordedEvent) -> None:
        await asyncio.sleep(0.0005)  # slow enough to be killed mid-batch
        self._count(tx, event["n"], recorded.position)


app = App("crash", read_model=os.environ.get("EVENTFLUX_TEST_READ_URL"))
app.projection(TickCounter)
app.projection(AsyncTickCounter)
