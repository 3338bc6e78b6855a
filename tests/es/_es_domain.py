"""A small account aggregate for the es tests, on its own codec."""

from __future__ import annotations

from dataclasses import dataclass

from eventflux import Codec
from eventflux.es import Aggregate, DomainError, apply

codec = Codec()


@codec.register("Opened")
@dataclass(frozen=True)
class Opened:
    owner: str


@codec.register("Deposited")
@dataclass(frozen=True)
class Deposited:
    amount: int


@codec.register("Withdrawn")
@dataclass(frozen=True)
class Withdrawn:
    amount: int


@codec.register("AccountState")
@dataclass
class AccountState:
    owner: str
    balance: int


class Overdrawn(DomainError):
    pass


class Account(Aggregate):
    stream_prefix = "acct"
    snapshot_type = AccountState

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.owner = ""
        self.balance = 0

    @classmethod
    def open(cls, id: str, owner: str) -> Account:
        account = cls(id)
        account.record(Opened(owner))
        return account

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise DomainError("deposits must be positive")
        self.record(Deposited(amount))

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise Overdrawn(f"cannot withdraw {amount}: balance is {self.balance}")
        self.record(Withdrawn(amount))

    @apply
    def _opened(self, event: Opened) -> None:
        self.owner = event.owner

    @apply
    def _deposited(self, event: Deposited) -> None:
        self.balance += event.amount

    @apply
    def _withdrawn(self, event: Withdrawn) -> None:
        self.balance -= event.amount
