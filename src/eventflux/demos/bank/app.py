"""The bank demo's App: commands, queries, the accounts projection.

Commands go through the App's middleware (logging, authorization,
validation), change :class:`Account` aggregates through a repository, and are
stamped with who/why/correlation metadata. Queries read the ``bank-accounts``
read model, or the event store for time travel and the audit trail. Account
events are relayed to the bus as ``bank.<EventType>``.

Run it as a worker with ``eventflux worker eventflux.demos.bank:app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import msgspec

from ...app import App, Context
from ...cqrs import (
    Projection,
    Transaction,
    authorization_middleware,
    handles,
    logging_middleware,
    validation_middleware,
)
from ...es import Repository
from ...events import RecordedEvent, uuid7
from ...store import EventStore
from .domain import (
    Account,
    AccountOpened,
    MoneyDeposited,
    MoneyWithdrawn,
    TransferReceived,
    TransferSent,
)

Amount = Annotated[int, msgspec.Meta(gt=0)]
AccountId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


# -- commands ---------------------------------------------------------------------
@dataclass(frozen=True)
class OpenAccount:
    account_id: AccountId
    owner: Annotated[str, msgspec.Meta(min_length=1)]
    initial_deposit: Annotated[int, msgspec.Meta(ge=0)] = 0


@dataclass(frozen=True)
class Deposit:
    account_id: AccountId
    amount: Amount


@dataclass(frozen=True)
class Withdraw:
    account_id: AccountId
    amount: Amount


@dataclass(frozen=True)
class Transfer:
    from_account: AccountId
    to_account: AccountId
    amount: Amount


# -- queries ----------------------------------------------------------------------
@dataclass(frozen=True)
class GetBalance:
    """The balance now (read model), or as of an earlier time (event store)."""

    account_id: str
    as_of: datetime | None = None


@dataclass(frozen=True)
class ListAccounts:
    pass


@dataclass(frozen=True)
class GetAuditTrail:
    account_id: str


@dataclass(frozen=True)
class AuditEntry:
    """One change of an account: what, when, who, why, and its correlation id."""

    version: int
    at: datetime
    what: str
    amount: int
    who: str
    why: str
    correlation_id: str


# -- the read model -----------------------------------------------------------------
class AccountsView(Projection):
    """Balances of every account, for fast queries (portable SQL: SQLite or PostgreSQL)."""

    name = "bank-accounts"

    def create_schema(self, tx: Transaction) -> None:
        tx.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
            "balance BIGINT NOT NULL, changes INTEGER NOT NULL, updated_at TEXT NOT NULL)"
        )

    @handles
    def opened(self, event: AccountOpened, tx: Transaction, e: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO accounts VALUES (:id, :owner, 0, 1, :at)",
            {"id": _account_id(e), "owner": event.owner, "at": e.recorded_at.isoformat()},
        )

    def _change(self, tx: Transaction, e: RecordedEvent, delta: int) -> None:
        tx.execute(
            "UPDATE accounts SET balance = balance + :delta, changes = changes + 1, "
            "updated_at = :at WHERE id = :id",
            {"delta": delta, "at": e.recorded_at.isoformat(), "id": _account_id(e)},
        )

    @handles
    def credited(
        self, event: MoneyDeposited | TransferReceived, tx: Transaction, e: RecordedEvent
    ) -> None:
        self._change(tx, e, event.amount)

    @handles
    def debited(
        self, event: MoneyWithdrawn | TransferSent, tx: Transaction, e: RecordedEvent
    ) -> None:
        self._change(tx, e, -event.amount)


def _account_id(e: RecordedEvent) -> str:
    return e.stream.removeprefix("account-")


def _describe(e: RecordedEvent) -> tuple[str, int]:
    data = e.data
    if isinstance(data, AccountOpened):
        return f"opened for {data.owner}", 0
    if isinstance(data, MoneyDeposited):
        return "deposit", data.amount
    if isinstance(data, MoneyWithdrawn):
        return "withdrawal", -data.amount
    if isinstance(data, TransferSent):
        return f"transfer to {data.to_account}", -data.amount
    if isinstance(data, TransferReceived):
        return f"transfer from {data.from_account}", data.amount
    return e.type, 0


def may_run(command: Any, meta: Mapping[str, Any]) -> bool:
    """The demo's policy: every command needs a known user; opening needs a teller."""
    if not meta.get("user"):
        return False
    if isinstance(command, OpenAccount):
        return "teller" in meta.get("roles", ())
    return True


def make_app(
    *,
    store: str | None = None,
    bus: str | None = None,
    read_model: str | None = None,
    snapshot_every: int = 50,
    cache_size: int = 1000,
) -> App:
    """The bank as an :class:`~eventflux.App`: commands through logging,
    authorization and validation middleware, accounts as aggregates in a
    repository, the ``bank-accounts`` projection, queries on it (and on the
    event store for time travel and the audit trail)."""
    app = App(
        "bank",
        store=store,
        bus=bus,
        read_model=read_model,
        middleware=[
            logging_middleware(),
            authorization_middleware(may_run),
            validation_middleware(),
        ],
        query_middleware=[logging_middleware()],
    )
    app.projection(AccountsView)
    app.relay(stream_prefix="account-", subject="bank.{type}")
    repositories: WeakKeyDictionary[EventStore, Repository[Account]] = WeakKeyDictionary()

    def accounts(ctx: Context) -> Repository[Account]:
        """The App's account repository (one per store, with its cache and snapshots)."""
        repo = repositories.get(ctx.store)
        if repo is None:
            repo = Repository(
                ctx.store, Account, snapshot_every=snapshot_every, cache_size=cache_size
            )
            repositories[ctx.store] = repo
        return repo

    @app.command(OpenAccount)
    async def open_account(command: OpenAccount, ctx: Context) -> None:
        account = Account.open(command.account_id, command.owner, command.initial_deposit)
        await accounts(ctx).save(account)

    @app.command(Deposit)
    async def deposit(command: Deposit, ctx: Context) -> int:
        def apply(account: Account) -> int:
            account.deposit(command.amount)
            return account.balance

        return await accounts(ctx).update(command.account_id, apply)

    @app.command(Withdraw)
    async def withdraw(command: Withdraw, ctx: Context) -> int:
        def apply(account: Account) -> int:
            account.withdraw(command.amount)
            return account.balance

        return await accounts(ctx).update(command.account_id, apply)

    @app.command(Transfer)
    async def transfer(command: Transfer, ctx: Context) -> str:
        """Debit one account and credit the other in one transaction: both or neither."""
        transfer_id = str(uuid7())
        repo = accounts(ctx)
        if command.from_account == command.to_account:  # the account itself refuses
            source = await repo.get(command.from_account)
            source.send(transfer_id, command.to_account, command.amount)

        def move(pair: list[Account]) -> None:
            source, target = pair
            source.send(transfer_id, target.id, command.amount)
            target.receive(transfer_id, source.id, command.amount)

        await repo.update_all([command.from_account, command.to_account], move, retries=3)
        return transfer_id

    @app.query(GetBalance)
    async def balance(query: GetBalance, ctx: Context) -> int | None:
        if query.as_of is not None:  # time travel: rebuild the account from its events
            return (await accounts(ctx).get(query.account_id, as_of=query.as_of)).balance
        value = await ctx.read_model.fetch_value(
            "SELECT balance FROM accounts WHERE id = :id", {"id": query.account_id}
        )
        return None if value is None else int(value)

    @app.query(ListAccounts)
    async def list_accounts(query: ListAccounts, ctx: Context) -> list[dict[str, Any]]:
        return await ctx.read_model.fetch_all(
            "SELECT id, owner, balance, changes FROM accounts ORDER BY id"
        )

    @app.query(GetAuditTrail)
    async def audit_trail(query: GetAuditTrail, ctx: Context) -> list[AuditEntry]:
        """Every change of an account, read from the event store with its metadata."""
        entries: list[AuditEntry] = []
        async for e in ctx.store.read(accounts(ctx).stream_name(query.account_id)):
            what, amount = _describe(e)
            meta = e.metadata
            entries.append(
                AuditEntry(
                    e.version,
                    e.recorded_at,
                    what,
                    amount,
                    str(meta.get("user", "?")),
                    str(meta.get("reason", "")),
                    str(e.correlation_id),
                )
            )
        return entries

    return app
