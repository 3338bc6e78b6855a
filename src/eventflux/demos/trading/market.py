"""The market simulator: a random walk with jumps drives market makers and takers.

Each listed symbol has a fair price that moves by a small Gaussian step each
tick and now and then jumps (seeded, so a run can be replayed). A market
maker per symbol quotes a few post-only levels on both sides of the fair
price (cancelling its previous quotes first); takers send market orders of
random side and size. Everything goes through the App's commands, like any
client's orders.

Example::

    sim = Simulator({"ACME": Listing(100_00)}, seed=7)
    await sim.fund(app.dispatch)
    for _ in range(100):
        await sim.step(app.dispatch)
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...exceptions import EventfluxError
from .messages import CancelOrder, FundAccount, SubmitOrder
from .orders import Side
from .state import Listing, OrderAck

__all__ = ["RandomWalk", "Simulator"]

log = logging.getLogger("eventflux.demos.trading")
Dispatch = Callable[[Any], Awaitable[Any]]


class RandomWalk:
    """A price in ticks: Gaussian steps of ``volatility`` (a share of the price)
    and, with ``jump_probability`` per step, a jump of up to ``jump_size``."""

    def __init__(
        self,
        price: int,
        *,
        rng: random.Random,
        tick: int = 1,
        volatility: float = 0.002,
        jump_probability: float = 0.01,
        jump_size: float = 0.04,
    ) -> None:
        self.price = price
        self.rng = rng
        self.tick = tick
        self.volatility = volatility
        self.jump_probability = jump_probability
        self.jump_size = jump_size

    def step(self) -> int:
        change = self.rng.gauss(0.0, self.volatility)
        if self.rng.random() < self.jump_probability:
            change += self.rng.choice((-1, 1)) * self.rng.uniform(0.5, 1.0) * self.jump_size
        return self.move(change)

    def move(self, change: float) -> int:
        """Move the price by ``change`` (a share: -0.15 is a 15% drop)."""
        target = self.price * (1.0 + change)
        self.price = max(self.tick, round(target / self.tick) * self.tick)
        return self.price


class Simulator:
    """Market makers and takers on every listed symbol; see the module docs."""

    def __init__(
        self,
        listings: Mapping[str, Listing],
        *,
        seed: int | None = None,
        levels: int = 3,
        size: int = 50,
        takers: int = 3,
    ) -> None:
        self.rng = random.Random(seed)
        self.listings = dict(listings)
        self.walks = {
            name: RandomWalk(listing.reference_price, rng=self.rng, tick=listing.tick_size)
            for name, listing in self.listings.items()
        }
        self.levels = levels
        self.size = size
        self.takers = [f"taker-{i + 1}" for i in range(takers)]
        self.quotes: dict[str, list[str]] = {name: [] for name in self.listings}
        self.steps = 0

    @staticmethod
    def maker(symbol: str) -> str:
        return f"mm-{symbol.lower()}"

    async def fund(self, dispatch: Dispatch) -> None:
        """Give the market makers and takers cash and shares to trade with."""
        for name in self.listings:
            await dispatch(FundAccount(self.maker(name), 10_000_000_00, {name: 50_000}))
        shares = dict.fromkeys(self.listings, 5000)
        for taker in self.takers:
            await dispatch(FundAccount(taker, 1_000_000_00, shares))

    async def quote(self, dispatch: Dispatch, symbol: str) -> None:
        """Cancel the maker's quotes on ``symbol`` and quote around its fair price."""
        maker, listing = self.maker(symbol), self.listings[symbol]
        for order_id in self.quotes[symbol]:
            try:
                await dispatch(CancelOrder(maker, order_id))
            except EventfluxError:
                pass  # filled meanwhile
        self.quotes[symbol] = []
        fair, tick = self.walks[symbol].price, listing.tick_size
        half = max(tick, round(fair * 0.001 / tick) * tick)
        for level in range(self.levels):
            quotes: tuple[tuple[Side, int], ...] = (
                ("buy", fair - half - level * tick * 5),
                ("sell", fair + half + level * tick * 5),
            )
            for side, price in quotes:
                if price <= 0:
                    continue
                size = self.size * (level + 1)
                ack = await self._send(
                    dispatch, SubmitOrder(maker, symbol, side, size, price, post_only=True)
                )
                if ack is not None and ack.order_id and ack.open:
                    self.quotes[symbol].append(ack.order_id)

    async def take(self, dispatch: Dispatch, symbol: str) -> OrderAck | None:
        """One taker's market order of random side and size."""
        taker = self.rng.choice(self.takers)
        side: Side = "buy" if self.rng.random() < 0.5 else "sell"
        size = self.rng.randint(1, self.size)
        return await self._send(dispatch, SubmitOrder(taker, symbol, side, size, tif="ioc"))

    async def step(self, dispatch: Dispatch) -> None:
        """One tick: every fair price moves, makers requote, takers may trade."""
        self.steps += 1
        for symbol, walk in self.walks.items():
            walk.step()
            await self.quote(dispatch, symbol)
            if self.rng.random() < 0.7:
                await self.take(dispatch, symbol)

    async def run(self, dispatch: Dispatch, interval: float) -> None:
        """Fund, then step every ``interval`` seconds until cancelled."""
        await self.fund(dispatch)
        while True:
            try:
                await self.step(dispatch)
            except EventfluxError as e:
                log.warning("market simulator: %s: %s", type(e).__name__, e)
            await asyncio.sleep(interval)

    @staticmethod
    async def _send(dispatch: Dispatch, order: SubmitOrder) -> OrderAck | None:
        try:
            ack: OrderAck = await dispatch(order)
        except EventfluxError as e:
            log.debug("market simulator: order refused: %s", e)
            return None
        return ack
