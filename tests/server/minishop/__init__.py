"""A small App the server tests serve: orders relayed to the bus, a payment
handler behind a circuit breaker, an audit group that dead-letters bad
orders, a projection counting orders, and a page.

Run it: ``eventflux serve tests.server.minishop:app`` (from the repository root).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventflux import App, Context, Message, NewEvent, Reject
from eventflux.cqrs import Projection, Transaction, handles
from eventflux.events import RecordedEvent
from eventflux.resilience import CircuitBreaker

app = App("minishop")
app.relay(stream_prefix="order-", subject="shop.{type}")
gateway = CircuitBreaker("minishop-gateway", failure_threshold=3, reset_timeout=60.0)


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    total: int
    bad: bool = False


@dataclass(frozen=True)
class Charge:
    order_id: str
    total: int


@app.command(PlaceOrder)
async def place(cmd: PlaceOrder, ctx: Context) -> str:
    data = {"order_id": cmd.order_id, "total": cmd.total, "bad": cmd.bad}
    await ctx.store.append(f"order-{cmd.order_id}", [NewEvent("OrderPlaced", data)])
    return cmd.order_id


@app.command(Charge)
async def charge(cmd: Charge, ctx: Context) -> None:
    data = {"order_id": cmd.order_id, "amount": cmd.total}
    await ctx.store.append(f"payment-{cmd.order_id}", [NewEvent("PaymentCharged", data)])


@app.subscribe("shop.OrderPlaced", group="minishop-payments", breaker=gateway)
async def pay(msg: Message, ctx: Context) -> None:
    if not msg.data["bad"]:
        await ctx.dispatch(Charge(msg.data["order_id"], msg.data["total"]))


@app.subscribe("shop.OrderPlaced", group="minishop-audit", max_deliver=1)
async def audit(msg: Message, ctx: Context) -> None:
    if msg.data["bad"] and not ACCEPT_BAD[0]:
        raise Reject(f"order {msg.data['order_id']} looks wrong")


#: the audit group accepts bad orders once this holds True (tests retry letters)
ACCEPT_BAD = [False]


@app.projection
class OrderCount(Projection):
    name = "minishop-orders"
    batch_size = 10

    def create_schema(self, tx: Transaction) -> None:
        tx.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY, total INTEGER)")

    @handles("OrderPlaced")
    def placed(self, data: dict[str, Any], tx: Transaction, event: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO orders VALUES (:id, :total)",
            {"id": data["order_id"], "total": data["total"]},
        )


async def summary(shop: App) -> dict[str, Any]:
    """The page's variables: what the read model holds now."""
    model = shop.read_model
    count = await model.fetch_value("SELECT count(*) FROM orders") if shop.running_now else 0
    return {"orders": count}


app.page("/", "minishop.html", context=summary)
