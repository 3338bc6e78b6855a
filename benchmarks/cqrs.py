"""Commands per second, end to end, for the bank demo: eventflux against the
eventsourcing library, both on SQLite with an fsync per commit.

Run: .venv/bin/python benchmarks/cqrs.py [--quick]

The workload (the same seeded list of commands for every contender): open N
accounts with an initial deposit, then a mix of deposits (50 %), withdrawals
(30 %, a few refused for lack of funds) and transfers between two accounts
(20 %, atomic on both). A command counts once it is handled, its events are
stored and the balances projection shows them: the clock stops when the
projection has caught up with the last event. Every run checks that its
projection's total equals the total of its aggregates.

- eventflux: the bank demo's App (``eventflux.demos.bank.make_app``: commands
  through logging, authorization and validation middleware, a repository,
  ``save_all`` for transfers, each command stamped with its correlation
  metadata) on ``sqlite:///...?durability=full``; the App runs the
  ``bank-accounts`` projection live and writes a SQLite read model with
  ``durability=full``, its checkpoint in the same transaction.
  Run by one client, and by 32 concurrent clients (asyncio tasks, commands
  split by account), as a server would see them, on uvloop's event loop when
  it is installed (as ``eventflux serve`` runs).
- eventsourcing (``benchmarks/_cqrs_eventsourcing.py``): the same scenario as
  an ``Application``, projected by a ``ProcessApplication`` in a ``System``
  (``SingleThreadedRunner``; one client, and 8 client threads), and by the
  library's ``Projection`` class into a SQLite materialised view (one client).
  eventsourcing is synchronous, so threads are its way to serve concurrent
  clients; each of its commits has its own fsync. Its aggregate cache is on,
  as the eventflux repository's (``cache_size``) is in the demo.

Every contender writes its files in a fresh temp folder. The target compares eventflux with 32 clients against the best eventsourcing
row; the one-client ratio is printed for context. Contenders alternate within
every repeat and each keeps its best repeat; disks vary, so the ratios matter,
not the rates. The exit code is 0 whatever the results; the target prints
PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "src", Path(__file__).resolve().parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from _cqrs_eventsourcing import run_eventsourcing, run_eventsourcing_view  # noqa: E402
from _cqrs_workload import Command, Outcome, partition, workload  # noqa: E402
from eventflux import ConcurrencyError  # noqa: E402
from eventflux.demos.bank import Deposit, OpenAccount, Transfer, Withdraw, make_app  # noqa: E402
from eventflux.demos.bank.domain import Account, InsufficientFunds  # noqa: E402
from eventflux.es import Repository  # noqa: E402

TARGET = 4.0
CLIENTS = 32  # concurrent command senders on the eventflux side (asyncio tasks)
THREADS = 8  # concurrent command senders on the eventsourcing side (threads)


# -- eventflux ---------------------------------------------------------------------------
async def run_eventflux(folder: Path, commands: list[Command], clients: int) -> Outcome:
    bank = make_app(
        store=f"sqlite:///{folder}/ef-events.db?durability=full",
        bus="memory://",
        read_model=f"sqlite:///{folder}/ef-read.db?durability=full",
    )
    async with bank.running():
        send = bank.dispatch
        meta = {"user": "bench", "roles": ["teller"]}
        refused = conflicts = 0

        async def client(mine: list[Command]) -> None:
            nonlocal refused, conflicts
            for c in mine:
                account = f"a{c.account}"
                try:
                    if c.kind == "open":
                        command: Any = OpenAccount(account, f"owner {c.account}", c.amount)
                    elif c.kind == "deposit":
                        command = Deposit(account, c.amount)
                    elif c.kind == "withdraw":
                        command = Withdraw(account, c.amount)
                    else:
                        command = Transfer(account, f"a{c.other}", c.amount)
                    await send(command, metadata=meta)
                except InsufficientFunds:
                    refused += 1
                except ConcurrencyError:  # still conflicting after the handler's retries
                    conflicts += 1

        start = time.perf_counter()
        for phase in partition(commands, clients):
            await asyncio.gather(*(client(mine) for mine in phase))
        await bank.settle()
        elapsed = time.perf_counter() - start
        projected = int(await bank.read_model.fetch_value("SELECT sum(balance) FROM accounts"))
        accounts = Repository(bank.store, Account)
        stored = 0
        for i in {c.account for c in commands}:
            stored += (await accounts.get(f"a{i}")).balance
    return Outcome(elapsed, refused, conflicts, projected, stored)


def _run(coro: Any) -> Any:
    """Run ``coro`` on the event loop ``eventflux serve`` uses (uvloop if installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# -- the run -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = parser.parse_args(argv)
    accounts, count, repeats = (200, 1000, 1) if args.quick else (200, 2000, 3)
    logging.getLogger("eventflux").setLevel(logging.ERROR)  # no per-conflict warnings
    commands = workload(accounts, count)
    contenders: dict[str, Callable[[Path], Outcome]] = {
        "eventflux, 1 client": lambda f: _run(run_eventflux(f, commands, 1)),
        f"eventflux, {CLIENTS} clients": lambda f: _run(run_eventflux(f, commands, CLIENTS)),
        "eventsourcing, 1 client": lambda f: run_eventsourcing(f, commands, 1),
        f"eventsourcing, {THREADS} threads": lambda f: run_eventsourcing(f, commands, THREADS),
        "eventsourcing + view, 1 client": lambda f: run_eventsourcing_view(f, commands, 1),
    }
    best: dict[str, Outcome] = {}
    for _ in range(repeats):
        for name, contender in contenders.items():
            with tempfile.TemporaryDirectory(prefix="eventflux-cqrs-") as tmp:
                outcome = contender(Path(tmp))
            if outcome.projected_total != outcome.stored_total:
                print(
                    f"MISMATCH in {name}: projection {outcome.projected_total}, "
                    f"aggregates {outcome.stored_total}"
                )
                return 1
            if name not in best or outcome.seconds < best[name].seconds:
                best[name] = outcome
    n = len(commands)
    rate = {name: n / o.seconds for name, o in best.items()}
    es_best = max(rate[k] for k in rate if k.startswith("eventsourcing"))
    print(
        f"bank demo, end to end on SQLite with fsync: {accounts} accounts, {n} commands, "
        f"best of {repeats}; a command counts once handled, stored and projected"
    )
    print()
    print("| contender | commands/s | refused | lost to conflicts | vs eventsourcing (best) |")
    print("|---|---:|---:|---:|---:|")
    for name, o in best.items():
        print(
            f"| {name} | {rate[name]:,.0f} | {o.refused} | {o.conflicts} | "
            f"{rate[name] / es_best:.2f}x |"
        )
    print()
    ratio = rate[f"eventflux, {CLIENTS} clients"] / es_best
    es_one = max(rate[k] for k in rate if k.startswith("eventsourcing") and "1 client" in k)
    seq = rate["eventflux, 1 client"] / es_one
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(
        f"{verdict}  commands/s end to end: eventflux ({CLIENTS} clients) {ratio:.2f}x "
        f"eventsourcing's best (target >= {TARGET:.0f}x)"
    )
    print(
        f"info  one client each (every command then waits for its own fsync): {seq:.2f}x "
        "eventsourcing's best with one client"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
