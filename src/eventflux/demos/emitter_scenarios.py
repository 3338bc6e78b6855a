"""Demo: the founding document's four in-process examples on eventflux's emitters.

* ``chat``: a chat room where users join, talk and leave;
* ``orders``: an order service whose ``order.created`` events an async payment
  service handles, then shipping;
* ``smarthome``: a hub that turns the lights on from device events, with a
  wildcard rule for ``device.*.motion``;
* ``trading``: a stock ticker with market data and trade executions.

Each ``run_*`` function returns the lines of what happened, the same on every
run; :data:`SCENARIOS` maps the scenario names to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from eventflux.emitter import ERROR_MONITOR, AsyncEventEmitter, EventEmitter, once
from eventflux.observability.emitter import record

__all__ = [
    "SCENARIOS",
    "TITLE",
    "chat_sequence_diagram",
    "run_chat",
    "run_orders",
    "run_smarthome",
    "run_trading",
]

TITLE = "In-process events: four EventEmitter scenarios"


# -- chat ------------------------------------------------------------------------------------


class ChatApp:
    """A chat room: ``join``/``send_message``/``leave`` emit ``user.joined``,
    ``message`` and ``user.left`` on the room's :class:`EventEmitter`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: set[str] = set()
        self.events = EventEmitter()

    def join(self, user: str) -> None:
        self.members.add(user)
        self.events.emit("user.joined", user)

    def send_message(self, user: str, text: str) -> None:
        if user not in self.members:
            self.events.emit("error", PermissionError(f"{user} is not in #{self.name}"))
            return
        self.events.emit("message", user, text)

    def leave(self, user: str) -> None:
        self.members.discard(user)
        self.events.emit("user.left", user)


class MessageService:
    """Shows every member the messages of the others and keeps the room's log."""

    def __init__(self, app: ChatApp, lines: list[str]) -> None:
        self.app = app
        self.lines = lines
        self.screens: dict[str, list[str]] = {}
        app.events.on("user.joined", self.on_join)
        app.events.on("message", self.on_message)
        app.events.on("user.left", self.on_leave)
        app.events.on("error", self.on_refused)

    def on_join(self, user: str) -> None:
        self.screens.setdefault(user, [])
        self.lines.append(f"#{self.app.name}: {user} joined ({len(self.app.members)} online)")

    def on_message(self, user: str, text: str) -> None:
        for member in sorted(self.app.members - {user}):
            self.screens[member].append(f"{user}: {text}")
        self.lines.append(f"#{self.app.name} <{user}> {text}")

    def on_leave(self, user: str) -> None:
        self.lines.append(f"#{self.app.name}: {user} left ({len(self.app.members)} online)")

    def on_refused(self, error: Exception) -> None:
        self.lines.append(f"#{self.app.name}: refused: {error}")


def _chat(app: ChatApp, service: MessageService) -> None:
    app.join("ada")
    app.join("grace")
    app.send_message("ada", "Hello!")
    app.send_message("grace", "Hi Ada")
    app.send_message("linus", "anyone?")
    app.leave("grace")
    app.send_message("ada", "bye")


def run_chat() -> list[str]:
    """Users join a room and talk; every member's screen shows what it should."""
    lines: list[str] = []
    app = ChatApp("general")
    service = MessageService(app, lines)
    _chat(app, service)
    for user, screen in sorted(service.screens.items()):
        lines.append(f"{user}'s screen: {' | '.join(screen)}")
    return lines


def chat_sequence_diagram() -> str:
    """The chat scenario's run, recorded: the founding document's diagram
    (User -> ChatApp -> EventEmitter -> MessageService) as Mermaid text."""
    app = ChatApp("general")
    service = MessageService(app, [])
    with record(app.events, origin="User") as recording:
        _chat(app, service)
    return recording.mermaid()


# -- orders ----------------------------------------------------------------------------------


@dataclass
class Order:
    id: str
    customer: str
    total: int  # cents


@dataclass
class PaymentService:
    """Charges cards for new orders; declines orders over the customer's limit."""

    bus: AsyncEventEmitter
    limits: dict[str, int]
    log: list[str]

    def __post_init__(self) -> None:
        self.bus.on("order.created", self.charge)

    async def charge(self, order: Order) -> None:
        await asyncio.sleep(0)  # a call to the card processor
        if order.total > self.limits.get(order.customer, 0):
            self.log.append(f"payments: declined {order.id} ({order.total / 100:.2f})")
            await self.bus.emit_async("payment.failed", order, "card declined")
            return
        self.log.append(f"payments: charged {order.id} ({order.total / 100:.2f})")
        await self.bus.emit_async("payment.succeeded", order)


async def _orders() -> list[str]:
    log: list[str] = []
    bus = AsyncEventEmitter()
    status: dict[str, str] = {}

    @bus.on("order.created")
    def record(order: Order) -> None:
        status[order.id] = "created"
        log.append(f"orders: {order.id} created for {order.customer}")

    PaymentService(bus, limits={"ada": 10_000, "bob": 1_000}, log=log)

    @bus.on("payment.succeeded")
    async def ship(order: Order) -> None:
        status[order.id] = "shipped"
        log.append(f"shipping: {order.id} shipped to {order.customer}")

    @bus.on("payment.failed")
    def cancel(order: Order, reason: str) -> None:
        status[order.id] = "cancelled"
        log.append(f"orders: {order.id} cancelled ({reason})")

    # emit() schedules the coroutine listener; wait_for_complete() waits for it.
    bus.emit("order.created", Order("o-1", "ada", 4_999))
    await bus.wait_for_complete()
    # emit_async() awaits every listener in turn.
    await bus.emit_async("order.created", Order("o-2", "bob", 2_500))
    # once() waits for the next event, here one that a task emits.
    shipped = asyncio.create_task(once(bus, "payment.succeeded", timeout=5))
    await asyncio.sleep(0)
    bus.emit("order.created", Order("o-3", "bob", 999))
    (order,) = await shipped
    log.append(f"waiter: {order.id} was paid")
    await bus.wait_for_complete()
    log.append("status: " + ", ".join(f"{k}={v}" for k, v in sorted(status.items())))
    return log


def run_orders() -> list[str]:
    """Orders are created; an async payment service charges them and shipping follows."""
    return asyncio.run(_orders())


# -- smart home ------------------------------------------------------------------------------


@dataclass
class Hub:
    """The smart-home hub: devices emit ``device.<room>.<kind>`` events on its bus."""

    bus: EventEmitter = field(default_factory=lambda: EventEmitter(wildcard=True))
    lights: dict[str, bool] = field(default_factory=dict)
    idle: dict[str, int] = field(default_factory=dict)  # minutes without motion

    def set_light(self, room: str, on: bool) -> None:
        if self.lights.get(room) != on:
            self.lights[room] = on
            self.bus.emit(f"light.{room}.{'on' if on else 'off'}", room)


def run_smarthome() -> list[str]:
    """Motion turns a room's light on; after 3 quiet minutes it goes off again."""
    lines: list[str] = []
    hub = Hub()
    bus = hub.bus

    @bus.on("device.**")
    def log_device(room: str, *values: object) -> None:
        lines.append(f"device event in {room}{''.join(f' {v}' for v in values)}")

    @bus.on("light.**")
    def log_light(room: str) -> None:
        lines.append(f"light in {room} is {'on' if hub.lights[room] else 'off'}")

    @bus.on("device.*.motion")
    def light_on_motion(room: str) -> None:
        hub.idle[room] = 0
        hub.set_light(room, True)

    @bus.on("device.*.lux")
    def light_on_darkness(room: str, lux: int) -> None:
        if lux < 10 and hub.idle.get(room, 99) < 3:
            hub.set_light(room, True)

    @bus.on("clock.minute")
    def lights_off_when_idle() -> None:
        for room in sorted(hub.idle):
            hub.idle[room] += 1
            if hub.idle[room] >= 3:
                hub.set_light(room, False)

    bus.emit("device.hall.motion", "hall")
    bus.emit("clock.minute")
    bus.emit("device.kitchen.motion", "kitchen")
    bus.emit("device.hall.motion", "hall")  # already on: no change
    lines.append("three quiet minutes pass")
    for _ in range(3):
        bus.emit("clock.minute")
    bus.emit("device.garage.lux", "garage", 4)  # dark, but nobody there
    states = (f"{room}={'on' if on else 'off'}" for room, on in sorted(hub.lights.items()))
    lines.append("lights: " + ", ".join(states))
    return lines


# -- trading ---------------------------------------------------------------------------------


@dataclass
class Portfolio:
    cash: int
    shares: dict[str, int] = field(default_factory=dict)


def run_trading() -> list[str]:
    """A strategy buys below a limit; the exchange executes; the portfolio follows."""
    lines: list[str] = []
    market = EventEmitter()
    portfolio = Portfolio(cash=1_000)
    limits = {"ACME": 100, "INITECH": 50}

    @market.on("market.data")
    def strategy(symbol: str, price: int) -> None:
        if price <= limits.get(symbol, 0):
            market.emit("order.placed", symbol, 5, price)

    @market.on("order.placed")
    def exchange(symbol: str, quantity: int, price: int) -> None:
        cost = quantity * price
        if cost > portfolio.cash:
            market.emit("error", ValueError(f"not enough cash for {quantity} {symbol} at {price}"))
            return
        market.emit("trade.executed", symbol, quantity, price)

    @market.on("trade.executed")
    def settle(symbol: str, quantity: int, price: int) -> None:
        portfolio.cash -= quantity * price
        portfolio.shares[symbol] = portfolio.shares.get(symbol, 0) + quantity

    @market.on("trade.executed")
    def report(symbol: str, quantity: int, price: int) -> None:
        lines.append(f"bought {quantity} {symbol} at {price}, cash left {portfolio.cash}")

    market.on(ERROR_MONITOR, lambda error: lines.append(f"risk: {error}"))
    market.on("error", lambda error: lines.append("trading: order skipped"))

    ticks = [("ACME", 104), ("INITECH", 48), ("ACME", 99), ("ACME", 97), ("INITECH", 51)]
    for symbol, price in ticks:
        lines.append(f"tick {symbol} {price}")
        market.emit("market.data", symbol, price)
    held = ", ".join(f"{s}={n}" for s, n in sorted(portfolio.shares.items()))
    lines.append(f"portfolio: cash={portfolio.cash} {held}")
    return lines


SCENARIOS: dict[str, Callable[[], list[str]]] = {
    "chat": run_chat,
    "orders": run_orders,
    "smarthome": run_smarthome,
    "trading": run_trading,
}
