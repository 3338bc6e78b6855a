"""The demos' seeds (their first data under ``eventflux serve``) run once: a
store that holds their data already is left as it is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eventflux.demos.bank import ListAccounts
from eventflux.demos.bank import make_app as make_bank
from eventflux.demos.bank.seed import seed as seed_bank
from eventflux.demos.shop import GetOrder
from eventflux.demos.shop import make_app as make_shop
from eventflux.demos.shop.scenario import PRODUCTS
from eventflux.demos.shop.seed import seed as seed_shop


@pytest.mark.asyncio
async def test_the_bank_seed_opens_two_accounts_once(tmp_path: Path) -> None:
    bank = make_bank(store="memory://", bus="memory://", read_model=f"sqlite:///{tmp_path}/r.db")
    async with bank.running():
        await seed_bank(bank)
        await seed_bank(bank)
        await bank.settle()
        rows = await bank.ask(ListAccounts())
        assert [(r["id"], r["balance"]) for r in rows] == [("alice", 80), ("bob", 75)]
        assert await bank.store.last_position() == 8


@pytest.mark.asyncio
async def test_the_shop_seed_fills_the_catalogue_and_checks_out_once(tmp_path: Path) -> None:
    shop = make_shop(store="memory://", bus="memory://", read_model=f"sqlite:///{tmp_path}/r.db")
    async with shop.running():
        await seed_shop(shop)
        await seed_shop(shop)
        added = [e async for e in shop.store.read_all(types=["shop.ProductAdded"])]
        assert len(added) == len(PRODUCTS)
        assert len(await shop.store.streams("order-")) == 2
        async with asyncio.timeout(30):
            while True:
                orders = [await shop.ask(GetOrder(o)) for o in ("o-1001", "o-1002")]
                if all(o is not None and o["status"] != "placed" for o in orders):
                    break
                await asyncio.sleep(0.01)
        assert [o["status"] for o in orders if o is not None] == ["confirmed", "rejected"]
