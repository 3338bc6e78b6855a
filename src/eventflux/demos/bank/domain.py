"""The bank demo's domain: account events, the Account aggregate, its refusals.

Event type names are prefixed with ``bank.`` so they never clash with other
demos sharing the process-wide codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...codec import register_event
from ...es import Aggregate, DomainError, apply

__all__ = [
    "Account",
    "AccountOpened",
    "AccountState",
    "InsufficientFunds",
    "InvalidAmount",
    "MoneyDeposited",
    "MoneyWithdrawn",
    "SameAccountTransfer",
    "TransferReceived",
    "TransferSent",
]


@register_event("bank.AccountOpened")
@dataclass(frozen=True, slots=True)
class AccountOpened:
    owner: str


@register_event("bank.MoneyDeposited")
@dataclass(frozen=True, slots=True)
class MoneyDeposited:
    amount: int


@register_event("bank.MoneyWithdrawn")
@dataclass(frozen=True, slots=True)
class MoneyWithdrawn:
    amount: int


@register_event("bank.TransferSent")
@dataclass(frozen=True, slots=True)
class TransferSent:
    transfer_id: str
    to_account: str
    amount: int


@register_event("bank.TransferReceived")
@dataclass(frozen=True, slots=True)
class TransferReceived:
    transfer_id: str
    from_account: str
    amount: int


@register_event("bank.AccountState")
@dataclass(slots=True)
class AccountState:
    """What a snapshot of an account holds."""

    owner: str
    balance: int


class InvalidAmount(DomainError, ValueError):
    """An amount of money that is zero or negative."""


class InsufficientFunds(DomainError):
    """A withdrawal or transfer larger than the balance (no overdrafts)."""

    def __init__(self, account_id: str, balance: int, amount: int) -> None:
        self.account_id = account_id
        self.balance = balance
        self.amount = amount
        super().__init__(
            f"account {account_id!r} holds {balance} EUR and cannot pay out {amount} EUR"
        )


class SameAccountTransfer(DomainError, ValueError):
    """A transfer from an account to itself."""


class Account(Aggregate):
    """A bank account: opened by an owner, never overdrawn."""

    stream_prefix = "account"
    snapshot_type = AccountState

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance = 0

    @classmethod
    def open(cls, id: str, owner: str, initial_deposit: int = 0) -> Account:
        account = cls(id)
        account.record(AccountOpened(owner))
        if initial_deposit:
            account.deposit(initial_deposit)
        return account

    # -- commands -----------------------------------------------------------------
    @staticmethod
    def _check_amount(amount: int) -> None:
        if amount <= 0:
            raise InvalidAmount(f"amounts must be positive, got {amount}")

    def _check_funds(self, amount: int) -> None:
        self._check_amount(amount)
        if amount > self.balance:
            raise InsufficientFunds(self.id, self.balance, amount)

    def deposit(self, amount: int) -> None:
        self._check_amount(amount)
        self.record(MoneyDeposited(amount))

    def withdraw(self, amount: int) -> None:
        self._check_funds(amount)
        self.record(MoneyWithdrawn(amount))

    def send(self, transfer_id: str, to_account: str, amount: int) -> None:
        if to_account == self.id:
            raise SameAccountTransfer(f"account {self.id!r} cannot transfer to itself")
        self._check_funds(amount)
        self.record(TransferSent(transfer_id, to_account, amount))

    def receive(self, transfer_id: str, from_account: str, amount: int) -> None:
        self._check_amount(amount)
        self.record(TransferReceived(transfer_id, from_account, amount))

    # -- state changes --------------------------------------------------------------
    @apply
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner

    @apply
    def _credited(self, event: MoneyDeposited | TransferReceived) -> None:
        self.balance += event.amount

    @apply
    def _debited(self, event: MoneyWithdrawn | TransferSent) -> None:
        self.balance -= event.amount
