"""The bank demo's scripted run (``eventflux demo bank``).

Accounts are aggregates whose state is replayed from their events; commands go
through the App's middleware (logging, authorization, validation); a
projection keeps the ``bank-accounts`` read model (``bank-read.db``, or any
read-model URL) up to date; balances can be read now or as of any earlier
time; every change carries who, why and a correlation id, so the audit trail
is a query over the event store. Rebuild its read model with
``eventflux projections rebuild bank-accounts --app eventflux.demos.bank:app``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...app import App
from ...es import AggregateNotFoundError
from ...exceptions import EventfluxError
from .app import (
    Deposit,
    GetAuditTrail,
    GetBalance,
    ListAccounts,
    OpenAccount,
    Transfer,
    Withdraw,
    make_app,
)

__all__ = ["TITLE", "remove_databases", "run"]

TITLE = "Bank: event-sourced accounts, a CQRS read model, time travel and an audit trail"


def remove_databases(*paths: Path) -> None:
    """Delete the demo's SQLite files (and their WAL files) from an earlier run."""
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S.%f")[:-3]


async def run(workdir: Path, *, read_url: str | None = None) -> list[str]:
    """Run the bank scenario against ``sqlite:///{workdir}/bank-events.db``, with
    the read model in ``bank-read.db`` there, or in the read model ``read_url``
    names (which must be empty)."""
    db, read = workdir / "bank-events.db", workdir / "bank-read.db"
    remove_databases(db, read, workdir / "bank-bus.db")
    app = make_app(
        store=f"sqlite:///{db}",
        bus=f"sqlite:///{workdir / 'bank-bus.db'}",
        read_model=read_url or f"sqlite:///{read}",
    )
    lines: list[str] = []
    async with app.running():
        await _scenario(app, lines)
    return lines


async def _scenario(bank: App, lines: list[str]) -> None:
    send, ask = bank.dispatch, bank.ask

    async def refused(command: Any, meta: dict[str, Any]) -> str:
        try:
            await send(command, metadata=meta)
        except EventfluxError as e:
            return f"{type(e).__name__}: {e}"
        raise AssertionError(f"{command} was expected to fail")

    async def balances() -> str:
        alice = await ask(GetBalance("alice", as_of=datetime.now(UTC)))
        bob = await ask(GetBalance("bob", as_of=datetime.now(UTC)))
        return f"alice {alice} EUR, bob {bob} EUR"

    teller = {"user": "ann", "roles": ["teller"], "reason": "new customer"}
    await send(OpenAccount("alice", "Alice", 100), metadata=teller)
    await send(OpenAccount("bob", "Bob", 20), metadata=teller)
    lines.append("ann (teller) opened alice (Alice, 100 EUR) and bob (Bob, 20 EUR)")
    balance = await send(Deposit("alice", 50), metadata={"user": "alice", "reason": "salary"})
    lines.append(f"alice deposited 50 EUR (salary): balance {balance} EUR")
    why = await refused(Withdraw("bob", 500), {"user": "bob", "reason": "new bike"})
    lines.append(f"bob's withdrawal of 500 EUR was refused: {why}")

    await asyncio.sleep(0.01)
    before_transfer = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await send(Transfer("alice", "bob", 70), metadata={"user": "alice", "reason": "rent"})
    lines.append(f"alice transferred 70 EUR to bob (rent), on both accounts: {await balances()}")
    why = await refused(Transfer("bob", "alice", 1000), {"user": "bob", "reason": "gift"})
    lines.append(f"bob's transfer of 1000 EUR failed: {why}")
    lines.append(f"  ...and neither account changed: {await balances()}")
    why = await refused(Transfer("alice", "carol", 10), {"user": "alice", "reason": "loan"})
    lines.append(f"alice's transfer to carol failed: {why}")
    lines.append(f"  ...and neither account changed: {await balances()}")
    why = await refused(Withdraw("alice", 10), {})
    lines.append(f"an anonymous withdrawal was refused: {why}")
    why = await refused(Deposit("bob", -5), {"user": "bob"})
    lines.append(f"a negative deposit was refused: {why}")

    await bank.settle()
    now = await ask(GetBalance("alice"))
    then = await ask(GetBalance("alice", as_of=before_transfer))
    lines.append(f"alice's balance now: {now} EUR (read model)")
    lines.append(
        f"alice's balance as of {_clock(before_transfer)}, before the transfer: {then} EUR "
        "(replayed from the event store)"
    )
    try:
        await ask(GetBalance("bob", as_of=datetime(2000, 1, 1, tzinfo=UTC)))
    except AggregateNotFoundError as e:
        lines.append(f"bob's balance in 2000: {e}")
    status = await bank.projection_instance("bank-accounts").status(bank.store)
    lines.append(
        f"read model {status.name}: checkpoint {status.checkpoint}, head {status.head}, "
        f"lag {status.lag}"
    )
    for row in await ask(ListAccounts()):
        lines.append(
            f"  {row['id']}: {row['owner']}, {row['balance']} EUR after {row['changes']} changes"
        )
    lines.append("audit trail of alice (who, when, why, correlation id):")
    for entry in await ask(GetAuditTrail("alice")):
        amount = f" {entry.amount:+d} EUR" if entry.amount else ""
        lines.append(
            f"  v{entry.version} {_clock(entry.at)} {entry.what}{amount} by {entry.who}"
            f" ({entry.why or 'no reason given'}) correlation {entry.correlation_id[-12:]}"
        )
