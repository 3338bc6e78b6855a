"""The bank workload shared by the sides of ``benchmarks/cqrs.py``."""

from __future__ import annotations

import random
from dataclasses import dataclass

INITIAL = 1_000


@dataclass(frozen=True)
class Outcome:
    seconds: float
    refused: int
    conflicts: int
    projected_total: int  # sum of the balances in the projection
    stored_total: int  # sum of the balances of the aggregates


@dataclass(frozen=True)
class Command:
    kind: str  # open | deposit | withdraw | transfer
    account: int
    other: int = -1
    amount: int = 0


def workload(accounts: int, commands: int, seed: int = 7) -> list[Command]:
    rng = random.Random(seed)
    out = [Command("open", i, amount=INITIAL) for i in range(accounts)]
    for _ in range(commands):
        roll = rng.random()
        a = rng.randrange(accounts)
        if roll < 0.5:
            out.append(Command("deposit", a, amount=rng.randint(1, 100)))
        elif roll < 0.8:
            out.append(Command("withdraw", a, amount=rng.randint(1, 400)))
        else:
            b = (a + rng.randrange(1, accounts)) % accounts
            out.append(Command("transfer", a, b, rng.randint(1, 300)))
    return out


def partition(commands: list[Command], clients: int) -> list[list[list[Command]]]:
    """Two phases (opening, then the rest), each split among clients by account."""
    phases = [[c for c in commands if c.kind == "open"], [c for c in commands if c.kind != "open"]]
    return [
        [[c for c in phase if c.account % clients == k] for k in range(clients)] for phase in phases
    ]
