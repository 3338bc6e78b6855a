"""A slow projection for the crash test, registered for ``python -m eventflux.cqrs``."""

from __future__ import annotations

import time
from typing import Any

from eventflux import RecordedEvent
from eventflux.cqrs import (
    Projection,
    SQLiteReadModel,
    SQLiteTransaction,
    beside,
    handles,
    register_projection,
)


class TickCounter(Projection[SQLiteTransaction]):
    name = "tick-counter"
    batch_size = 20

    def create_schema(self, tx: SQLiteTransaction) -> None:
        tx.script(
            """
            CREATE TABLE applied (position INTEGER NOT NULL, n INTEGER NOT NULL);
            CREATE TABLE totals (id INTEGER PRIMARY KEY, count INTEGER, sum INTEGER);
            INSERT INTO totals VALUES (1, 0, 0);
            """
        )

    @handles("Tick")
    def tick(self, event: dict[str, Any], tx: SQLiteTransaction, recorded: RecordedEvent) -> None:
        time.sleep(0.0005)  # slow enough to be killed mid-stream
        tx.execute("INSERT INTO applied VALUES (?, ?)", (recorded.position, event["n"]))
        tx.execute("UPDATE totals SET count = count + 1, sum = sum + ? WHERE id = 1", (event["n"],))


def counter(store_url: str) -> TickCounter:
    return TickCounter(SQLiteReadModel(beside(store_url, "crash-read.db")))


register_projection("tick-counter", counter, description="counts Tick events, slowly")
