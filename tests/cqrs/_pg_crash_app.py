"""A slow async projection on a PostgreSQL read model, for the PostgreSQL crash test.

Registered for ``python -m eventflux.cqrs pg-tick-counter --store URL``; the
read model's URL comes from ``$EVENTFLUX_TEST_READ_URL``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from eventflux import RecordedEvent
from eventflux.cqrs import (
    PostgresReadModel,
    PostgresTransaction,
    Projection,
    handles,
    register_projection,
)


class PgTickCounter(Projection[PostgresTransaction]):
    name = "pg-tick-counter"
    batch_size = 20

    async def create_schema(self, tx: PostgresTransaction) -> None:
        await tx.script(
            """
            CREATE TABLE applied (position bigint NOT NULL, n bigint NOT NULL);
            CREATE TABLE totals (id int PRIMARY KEY, count bigint NOT NULL, sum bigint NOT NULL);
            INSERT INTO totals VALUES (1, 0, 0);
            """
        )

    @handles("Tick")
    async def tick(
        self, event: dict[str, Any], tx: PostgresTransaction, recorded: RecordedEvent
    ) -> None:
        await asyncio.sleep(0.0005)  # slow enough to be killed mid-batch
        await tx.execute("INSERT INTO applied VALUES (%s, %s)", (recorded.position, event["n"]))
        await tx.execute(
            "UPDATE totals SET count = count + 1, sum = sum + %s WHERE id = 1", (event["n"],)
        )


def counter(store_url: str) -> PgTickCounter:
    return PgTickCounter(PostgresReadModel.from_url(os.environ["EVENTFLUX_TEST_READ_URL"]))


register_projection("pg-tick-counter", counter, description="counts Tick events, slowly")
