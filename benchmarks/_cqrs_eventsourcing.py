"""The eventsourcing library's side of ``benchmarks/cqrs.py``: the bank scenario
as an ``Application`` with an ``Account`` aggregate, projected two ways.

- ``run_eventsourcing``: a ``ProcessApplication`` follows the bank in a
  ``System`` run by a ``SingleThreadedRunner`` and keeps a balance aggregate
  per account (tracking recorded in the same transaction); the follower has
  processed each command's events before the command returns.
- ``run_eventsourcing_view``: the library's ``Projection`` class writes a
  SQLite materialised view (a balances table and the tracking row in one
  transaction). Its ``ProjectionRunner`` needs subscriptions, which the
  library's SQLite module does not offer, so the projection is driven after
  each command by pulling the new notifications.

SQLite's default synchronous mode (FULL, so an fsync per commit) in WAL mode.
The library's aggregate cache is on, as the eventflux repository's is.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.projection import Projection as EsProjection
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.system import ProcessApplication, SingleThreadedRunner, System
from eventsourcing.utils import Environment

from _cqrs_workload import Command, Outcome, partition

__all__ = ["run_eventsourcing", "run_eventsourcing_view"]

#: the library's aggregate cache, like the eventflux repository's ``cache_size``
#: (no fast-forward read: commands decide on the cached copy, saves detect conflicts)
CACHE = {"AGGREGATE_CACHE_MAXSIZE": "1000", "AGGREGATE_CACHE_FASTFORWARD": "n"}


class Refused(Exception):
    pass


class EsAccount(Aggregate):
    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    def deposit(self, amount: int) -> None:
        self._deposited(amount)

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise Refused
        self._withdrawn(amount)

    def send(self, to: uuid.UUID, amount: int) -> None:
        if amount > self.balance:
            raise Refused
        self._sent(to, amount)

    def receive(self, source: uuid.UUID, amount: int) -> None:
        self._received(source, amount)

    @event("Deposited")
    def _deposited(self, amount: int) -> None:
        self.balance += amount

    @event("Withdrawn")
    def _withdrawn(self, amount: int) -> None:
        self.balance -= amount

    @event("TransferSent")
    def _sent(self, to: uuid.UUID, amount: int) -> None:
        self.balance -= amount

    @event("TransferReceived")
    def _received(self, source: uuid.UUID, amount: int) -> None:
        self.balance += amount


class EsBank(Application[uuid.UUID]):
    def open(self, owner: str, initial: int) -> uuid.UUID:
        account = EsAccount(owner)
        account.deposit(initial)
        self.save(account)
        return account.id

    def deposit(self, account_id: uuid.UUID, amount: int) -> None:
        account: EsAccount = self.repository.get(account_id)
        account.deposit(amount)
        self.save(account)

    def withdraw(self, account_id: uuid.UUID, amount: int) -> None:
        account: EsAccount = self.repository.get(account_id)
        account.withdraw(amount)
        self.save(account)

    def transfer(self, source_id: uuid.UUID, target_id: uuid.UUID, amount: int) -> None:
        source: EsAccount = self.repository.get(source_id)
        target: EsAccount = self.repository.get(target_id)
        source.send(target.id, amount)
        target.receive(source.id, amount)
        self.save(source, target)


class EsBalance(Aggregate):
    def __init__(self, account_id: uuid.UUID) -> None:
        self.account_id = account_id
        self.balance = 0

    @staticmethod
    def create_id(account_id: uuid.UUID) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"/balances/{account_id}")

    @event("Changed")
    def change(self, delta: int) -> None:
        self.balance += delta


class EsBalances(ProcessApplication[uuid.UUID]):
    """The projection: one balance aggregate per account, tracked exactly once."""

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        if isinstance(domain_event, EsAccount.Opened):
            processing_event.collect_events(EsBalance(domain_event.originator_id))
            return
        if isinstance(domain_event, EsAccount.Deposited | EsAccount.TransferReceived):
            delta = domain_event.amount
        elif isinstance(domain_event, EsAccount.Withdrawn | EsAccount.TransferSent):
            delta = -domain_event.amount
        else:
            return
        balance_id = EsBalance.create_id(domain_event.originator_id)
        try:
            balance: EsBalance = processing_event.aggregates[balance_id]
        except KeyError:
            balance = self.repository.get(balance_id)
        balance.change(delta)
        processing_event.collect_events(balance)


def drive(
    bank: EsBank,
    commands: list[Command],
    clients: int,
    after_each: Callable[[], None] | None = None,
) -> tuple[dict[int, uuid.UUID], int, int]:
    """Run the commands phase by phase on ``clients`` threads (one client: inline).

    Returns the account ids, the refused commands and the lost conflicts.
    """
    ids: dict[int, uuid.UUID] = {}
    refused = conflicts = 0
    lock = threading.Lock()

    def client(mine: list[Command]) -> None:
        nonlocal refused, conflicts
        for c in mine:
            try:
                if c.kind == "open":
                    ids[c.account] = bank.open(f"owner {c.account}", c.amount)
                elif c.kind == "deposit":
                    bank.deposit(ids[c.account], c.amount)
                elif c.kind == "withdraw":
                    bank.withdraw(ids[c.account], c.amount)
                else:
                    bank.transfer(ids[c.account], ids[c.other], c.amount)
            except Refused:
                with lock:
                    refused += 1
            except IntegrityError:  # its optimistic-concurrency conflict
                with lock:
                    conflicts += 1
            if after_each is not None:
                after_each()

    for phase in partition(commands, clients):
        if clients == 1:
            client(phase[0])
            continue
        threads = [threading.Thread(target=client, args=(mine,)) for mine in phase]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return ids, refused, conflicts


def run_eventsourcing(folder: Path, commands: list[Command], clients: int) -> Outcome:
    env = {
        **CACHE,
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "ESBANK_SQLITE_DBNAME": str(folder / "es-bank.db"),
        "ESBALANCES_SQLITE_DBNAME": str(folder / "es-balances.db"),
    }
    runner = SingleThreadedRunner(System(pipes=[[EsBank, EsBalances]]), env=env)
    runner.start()
    try:
        bank, balances = runner.get(EsBank), runner.get(EsBalances)
        start = time.perf_counter()
        ids, refused, conflicts = drive(bank, commands, clients)
        balances.pull_and_process(EsBank.name)  # whatever a racing thread left unprocessed
        elapsed = time.perf_counter() - start
        projected = sum(
            balances.repository.get(EsBalance.create_id(i)).balance for i in ids.values()
        )
        stored = sum(bank.repository.get(i).balance for i in ids.values())
    finally:
        runner.stop()
    return Outcome(elapsed, refused, conflicts, projected, stored)


class EsBalancesView(SQLiteTrackingRecorder):
    """A materialised view: a balances table, tracked in the same transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS balances (id TEXT PRIMARY KEY, balance INTEGER NOT NULL)",
        ]

    def change(self, tracking: Tracking, account_id: uuid.UUID, delta: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO balances VALUES (?, ?) ON CONFLICT (id) "
                "DO UPDATE SET balance = balance + excluded.balance",
                (str(account_id), delta),
            )
            self._insert_tracking(c, tracking)

    def total(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT sum(balance) FROM balances")
            return int(c.fetchone()[0])


class EsBalancesProjection(EsProjection[EsBalancesView]):
    name = "balances"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, EsAccount.Opened):
            self.view.change(tracking, domain_event.originator_id, 0)
        elif isinstance(domain_event, EsAccount.Deposited | EsAccount.TransferReceived):
            self.view.change(tracking, domain_event.originator_id, domain_event.amount)
        elif isinstance(domain_event, EsAccount.Withdrawn | EsAccount.TransferSent):
            self.view.change(tracking, domain_event.originator_id, -domain_event.amount)
        else:
            self.view.insert_tracking(tracking)


def run_eventsourcing_view(folder: Path, commands: list[Command], clients: int) -> Outcome:
    """The same application, projected by the library's ``Projection`` class into a
    SQLite materialised view. Its runner needs subscriptions, which its SQLite
    module does not offer, so the projection is driven after each command by
    pulling the new notifications (synchronous, like the system runner)."""
    bank = EsBank(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "es-bank.db"),
        }
    )
    view = InfrastructureFactory.construct(
        env=Environment(
            "balances",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(folder / "es-view.db"),
            },
        )
    ).tracking_recorder(EsBalancesView)
    projection = EsBalancesProjection(view=view)
    process_lock = threading.Lock()

    def project() -> None:
        with process_lock:
            while True:
                last = view.max_tracking_id(bank.name) or 0
                notifications = bank.recorder.select_notifications(start=last + 1, limit=100)
                for n in notifications:
                    projection.process_event(
                        bank.mapper.to_domain_event(n), Tracking(bank.name, n.id)
                    )
                if len(notifications) < 100:
                    return

    try:
        start = time.perf_counter()
        ids, refused, conflicts = drive(bank, commands, clients, after_each=project)
        project()
        elapsed = time.perf_counter() - start
        stored = sum(bank.repository.get(i).balance for i in ids.values())
        return Outcome(elapsed, refused, conflicts, view.total(), stored)
    finally:
        bank.close()
