"""The bank demo's first data, for ``eventflux serve``: two accounts with a few
deposits, a withdrawal and a transfer, each with who and why, so the
dashboard has streams, a projection and causal chains to show. It runs once:
a store that holds accounts already is left as it is.

Example::

    async with app.running():
        await seed(app)
"""

from __future__ import annotations

from ...app import App
from .app import Deposit, OpenAccount, Transfer, Withdraw

__all__ = ["seed"]


async def seed(bank: App) -> None:
    """Open alice's and bob's accounts and move some money, unless accounts exist."""
    async for _ in bank.store.read_all(stream_prefix="account-", limit=1):
        return
    teller = {"user": "ann", "actor": "ann", "roles": ["teller"], "reason": "new customer"}
    await bank.dispatch(OpenAccount("alice", "Alice", 100), metadata=teller)
    await bank.dispatch(OpenAccount("bob", "Bob", 20), metadata=teller)
    alice = {"user": "alice", "actor": "alice"}
    await bank.dispatch(Deposit("alice", 50), metadata={**alice, "reason": "salary"})
    await bank.dispatch(Transfer("alice", "bob", 70), metadata={**alice, "reason": "rent"})
    bob = {"user": "bob", "actor": "bob"}
    await bank.dispatch(Withdraw("bob", 15), metadata={**bob, "reason": "groceries"})
