"""First data for ``eventflux serve``: the page's account, funded once.

Example::

    await seed(app)   # funds "trader" with 100,000.00 and 200 ACME, unless it has an account
"""

from __future__ import annotations

from ...app import App
from .app import PAGE_ACCOUNT
from .messages import FundAccount, GetPortfolio

__all__ = ["seed"]


async def seed(app: App) -> None:
    """Fund the page's account unless it exists already (its data is left alone)."""
    await app.settle()
    if await app.ask(GetPortfolio(PAGE_ACCOUNT)) is None:
        await app.dispatch(
            FundAccount(PAGE_ACCOUNT, 100_000_00, {"ACME": 200}), metadata={"actor": "seed"}
        )
