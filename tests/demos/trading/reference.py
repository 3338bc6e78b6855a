"""A deliberately simple order book to check the real one against: each side
is one plain list of orders kept sorted by (price, arrival), matching walks
it from the front, and nothing is clever (no levels, no indexes, no lazy
deletion).

Each operation returns what happened as plain tuples, in the order it
happened: ``("trade", taker, maker, price, quantity)``,
``("cancel", order_id, quantity, reason)``, ``("reduce", order_id,
quantity)``, ``("reject",)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

__all__ = ["RefBook", "RefOrder"]


@dataclass
class RefOrder:
    order_id: str
    account: str
    side: str
    price: int | None
    quantity: int
    stp: str
    post_only: bool
    arrival: int = 0


@dataclass
class RefBook:
    tick_size: int
    lot_size: int
    symbol: str = "T"
    bids: list[RefOrder] = field(default_factory=list)
    asks: list[RefOrder] = field(default_factory=list)
    next_id: int = 0
    clock: int = 0

    # -- the book as lists --------------------------------------------------------
    def _sort(self) -> None:
        self.bids.sort(key=lambda o: (-(o.price or 0), o.arrival))
        self.asks.sort(key=lambda o: (o.price or 0, o.arrival))

    def levels(self, side: str) -> list[tuple[int, list[tuple[str, int]]]]:
        out: list[tuple[int, list[tuple[str, int]]]] = []
        for o in self.bids if side == "buy" else self.asks:
            assert o.price is not None
            if not out or out[-1][0] != o.price:
                out.append((o.price, []))
            out[-1][1].append((o.order_id, o.quantity))
        return out

    def find(self, order_id: str) -> RefOrder | None:
        for o in self.bids + self.asks:
            if o.order_id == order_id:
                return o
        return None

    def _opposite(self, side: str) -> list[RefOrder]:
        return self.asks if side == "buy" else self.bids

    @staticmethod
    def _reaches(taker: RefOrder, maker: RefOrder) -> bool:
        if taker.price is None:
            return True
        assert maker.price is not None
        return maker.price <= taker.price if taker.side == "buy" else maker.price >= taker.price

    def _rest(self, order: RefOrder) -> None:
        self.clock += 1
        order.arrival = self.clock
        (self.bids if order.side == "buy" else self.asks).append(order)
        self._sort()

    # -- matching ---------------------------------------------------------------------
    def _match(self, taker: RefOrder, out: list[tuple[object, ...]]) -> int:
        """Trade ``taker``; return how much of it traded."""
        traded = 0
        opposite = self._opposite(taker.side)
        while taker.quantity and opposite and self._reaches(taker, opposite[0]):
            maker = opposite[0]
            if maker.account == taker.account:
                mode = taker.stp
                if mode in ("expire_maker", "expire_both"):
                    out.append(("cancel", maker.order_id, maker.quantity, "self-trade"))
                    opposite.pop(0)
                    if mode == "expire_maker":
                        continue
                if mode in ("expire_taker", "expire_both"):
                    out.append(("cancel", taker.order_id, taker.quantity, "self-trade"))
                    taker.quantity = 0
                    break
                d = min(taker.quantity, maker.quantity)
                out.append(("reduce", maker.order_id, d))
                out.append(("reduce", taker.order_id, d))
                maker.quantity -= d
                taker.quantity -= d
                if not maker.quantity:
                    opposite.pop(0)
                continue
            take = min(taker.quantity, maker.quantity)
            assert maker.price is not None
            out.append(("trade", taker.order_id, maker.order_id, maker.price, take))
            traded += take
            maker.quantity -= take
            taker.quantity -= take
            if not maker.quantity:
                opposite.pop(0)
        return traded

    def _crosses(self, side: str, price: int | None) -> bool:
        opposite = self._opposite(side)
        if not opposite:
            return False
        best = opposite[0].price
        assert best is not None
        return price is None or (price >= best if side == "buy" else price <= best)

    def _valid(
        self, side: str, kind: str, price: int | None, quantity: int, tif: str, post_only: bool
    ) -> bool:
        if quantity <= 0 or quantity % self.lot_size:
            return False
        if kind == "limit":
            if price is None or price <= 0 or price % self.tick_size:
                return False
        elif price is not None or tif == "gtc":
            return False
        return not (post_only and (kind != "limit" or tif != "gtc" or self._crosses(side, price)))

    def submit(
        self,
        account: str,
        side: str,
        kind: str,
        price: int | None,
        quantity: int,
        tif: str,
        post_only: bool,
        stp: str,
    ) -> list[tuple[object, ...]]:
        if not self._valid(side, kind, price, quantity, tif, post_only):
            return [("reject",)]
        self.next_id += 1
        taker = RefOrder(
            f"{self.symbol}-{self.next_id}", account, side, price, quantity, stp, post_only
        )
        out: list[tuple[object, ...]] = []
        if tif == "fok":
            trial = copy.deepcopy(self)
            trial_taker = copy.deepcopy(taker)
            if trial._match(trial_taker, []) < quantity:
                return [("cancel", taker.order_id, quantity, "fok")]
        self._match(taker, out)
        if taker.quantity:
            if tif == "gtc":
                self._rest(taker)
            else:
                out.append(("cancel", taker.order_id, taker.quantity, "ioc"))
        return out

    def cancel(self, order_id: str, account: str) -> list[tuple[object, ...]]:
        order = self.find(order_id)
        if order is None or order.account != account:
            return [("reject",)]
        (self.bids if order.side == "buy" else self.asks).remove(order)
        return [("cancel", order_id, order.quantity, "cancelled")]

    def amend(
        self, order_id: str, account: str, quantity: int, price: int
    ) -> list[tuple[object, ...]]:
        order = self.find(order_id)
        if order is None or order.account != account:
            return [("reject",)]
        if quantity <= 0 or quantity % self.lot_size or price <= 0 or price % self.tick_size:
            return [("reject",)]
        if price == order.price and quantity == order.quantity:
            return [("reject",)]
        if price == order.price and quantity < order.quantity:
            order.quantity = quantity
            return [("amend", order_id, price, quantity, True)]
        if order.post_only and self._crosses(order.side, price):
            return [("reject",)]
        (self.bids if order.side == "buy" else self.asks).remove(order)
        moved = RefOrder(order_id, account, order.side, price, quantity, order.stp, order.post_only)
        out: list[tuple[object, ...]] = [("amend", order_id, price, quantity, False)]
        self._match(moved, out)
        if moved.quantity:
            self._rest(moved)
        return out
