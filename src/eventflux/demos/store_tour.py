"""Demo: the founding document's bank account, on the embedded SQLite event store.

A tour of the store itself: appending with optimistic concurrency, replaying a
balance, reading it as of an earlier time, a safe retry, a live subscription.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from .. import NO_STREAM, ConcurrencyError, NewEvent, RecordedEvent, open_store

TITLE = "Event store: a bank account as a stream of events"


async def run(workdir: Path) -> list[str]:
    """Run the tour against ``sqlite:///{workdir}/store-events.db``; return what happened."""
    lines: list[str] = []
    db = workdir / "store-events.db"
    for suffix in ("", "-wal", "-shm"):  # a fresh file each run
        await asyncio.to_thread(Path(f"{db}{suffix}").unlink, missing_ok=True)
    async with await open_store(f"sqlite:///{db}") as store:
        seen: list[str] = []

        async def audit() -> None:
            async for e in store.subscribe():
                seen.append(f"{e.position}:{e.type}")

        watcher = asyncio.create_task(audit())
        opened = NewEvent("AccountOpened", {"owner": "Ada"}, metadata={"user": "teller-1"})
        await store.append("account-42", [opened], expected_version=NO_STREAM)
        r = await store.append(
            "account-42",
            [NewEvent("Deposited", {"amount": 100}), NewEvent("Withdrawn", {"amount": 30})],
            expected_version=1,
        )
        lines.append(f"appended versions {r.first_version}..{r.last_version} to account-42")
        await asyncio.sleep(0.01)
        middle = datetime.now(UTC)
        await asyncio.sleep(0.01)
        late = NewEvent("Deposited", {"amount": 50})
        await store.append("account-42", [late], expected_version=3)
        again = await store.append("account-42", [late], expected_version=3)
        lines.append(f"retrying the same append is safe: still version {again.last_version}")
        try:
            await store.append("account-42", [NewEvent("Withdrawn", {"amount": 500})], 3)
        except ConcurrencyError as e:
            lines.append(f"stale writer rejected: {e}")

        def balance(events: list[RecordedEvent]) -> int:
            total = 0
            for e in events:
                if e.type == "Deposited":
                    total += e.data["amount"]
                elif e.type == "Withdrawn":
                    total -= e.data["amount"]
            return total

        now = [e async for e in store.read("account-42")]
        then = [e async for e in store.read("account-42", as_of=middle)]
        lines.append(f"balance now: {balance(now)} after {len(now)} events")
        lines.append(f"balance as of {middle:%H:%M:%S.%f}: {balance(then)}")
        for _ in range(100):
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.01)
        watcher.cancel()
        lines.append(f"live subscriber saw: {', '.join(seen)}")
        lines.append(f"streams in the store: {', '.join(await store.streams())}")
    return lines
