"""The trading demo's scripted day (``eventflux demo trading``).

Market makers quote three symbols, takers trade against them, a trader buys
early; then ACME's fair price collapses 15% in a flash, the first trade at
the new level moves the price beyond the 10% limit and the circuit breaker
halts ACME: orders are refused while it is halted; after the cooldown it
resumes and recovers. The day ends with the tape summary of each symbol,
the halts, and every account's portfolio and P&L (from the projection). Time
is a manual clock advanced one second per step, so the day runs in seconds
and the same way every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...app import App
from .app import DEFAULT_LISTINGS, make_app
from .halts import ManualClock
from .market import Simulator
from .messages import (
    CancelOrder,
    FundAccount,
    GetHalts,
    GetTape,
    ListPortfolios,
    SubmitOrder,
)

__all__ = ["TITLE", "run"]

TITLE = "Trading: an event-sourced matching engine, market data, portfolios and a trading halt"


def _money(cents: int | None) -> str:
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"


def remove_files(workdir: Path) -> None:
    for name in ("trading-events.db", "trading-bus.db", "trading-read.db"):
        for suffix in ("", "-wal", "-shm"):
            Path(workdir, name + suffix).unlink(missing_ok=True)


async def run(workdir: Path, *, steps: int = 120, seed: int = 17) -> list[str]:
    """Run the day on SQLite files in ``workdir``; return what it printed."""
    remove_files(workdir)
    clock = ManualClock(1_000.0)
    app = make_app(
        store=f"sqlite:///{workdir / 'trading-events.db'}",
        bus=f"sqlite:///{workdir / 'trading-bus.db'}",
        read_model=f"sqlite:///{workdir / 'trading-read.db'}",
        simulate=False,
        clock=clock,
        cooldown=30.0,
    )
    lines: list[str] = []
    async with app.running():
        await _day(app, clock, lines, steps, seed)
    return lines


async def _day(app: App, clock: ManualClock, lines: list[str], steps: int, seed: int) -> None:
    send = app.dispatch
    sim = Simulator(DEFAULT_LISTINGS, seed=seed)
    await sim.fund(send)
    await send(FundAccount("ann", 50_000_00), metadata={"actor": "ann"})
    lines.append("market makers, three takers and ann are funded; books: ACME, GLOBX, INITECH")
    crash_at, recover_at = steps // 4, steps // 2
    refused: list[str] = []
    for step in range(1, steps + 1):
        clock.advance(1.0)
        if step == 5:
            ack = await send(
                SubmitOrder("ann", "ACME", "buy", 100, 101_00, client_order_id="ann-1"),
                metadata={"actor": "ann"},
            )
            lines.append(f"ann buys 100 ACME at up to 101.00: {ack.status}, "
                         f"{ack.filled} filled at {_money(ack.average_price)}")  # fmt: skip
            again = await send(
                SubmitOrder("ann", "ACME", "buy", 100, 101_00, client_order_id="ann-1"),
                metadata={"actor": "ann"},
            )
            lines.append(f"ann resends it after a timeout (same client order id): "
                         f"order {again.order_id}, duplicate={again.duplicate}")  # fmt: skip
        if step == crash_at:
            sim.walks["ACME"].move(-0.15)
            lines.append(f"step {step}: ACME's fair price collapses 15% in a flash")
            await sim.quote(send, "ACME")
            ack = await send(SubmitOrder("taker-1", "ACME", "sell", 40, tif="ioc"))
            lines.append(f"  taker-1 sells 40 ACME at market: {ack.filled} filled at "
                         f"{_money(ack.average_price)}")  # fmt: skip
        if step == recover_at:
            sim.walks["ACME"].move(0.12)
            lines.append(f"step {step}: ACME recovers 12%")
        halted = {h["symbol"] for h in await app.ask(GetHalts()) if h["halted"]}
        if "ACME" in halted and len(refused) < 1:
            ack = await send(SubmitOrder("ann", "ACME", "buy", 10, 90_00, client_order_id="ann-2"))
            refused.append(ack.reason)
            lines.append(f"  ann's order during the halt: {ack.status} ({ack.reason})")
        for symbol in sim.walks:
            if symbol in halted:
                sim.walks[symbol].step()
                continue
            sim.walks[symbol].step()
            await sim.quote(send, symbol)
            if sim.rng.random() < 0.7:
                await sim.take(send, symbol)
        if step == steps - 10:
            ack = await send(
                SubmitOrder("ann", "ACME", "sell", 100, tif="ioc", client_order_id="ann-3"),
                metadata={"actor": "ann"},
            )
            lines.append(f"step {step}: ann sells her 100 ACME at market: {ack.filled} filled "
                         f"at {_money(ack.average_price)}")  # fmt: skip
    for symbol in sim.walks:  # the makers leave the market
        for order_id in sim.quotes[symbol]:
            try:
                await send(CancelOrder(sim.maker(symbol), order_id))
            except Exception:
                pass
    await app.settle()
    await _report(app, lines)


async def _report(app: App, lines: list[str]) -> None:
    lines.append("tape summary (price in currency units):")
    lines.append(f"  {'symbol':8} {'trades':>6} {'volume':>8} {'open':>8} {'high':>8} "
                 f"{'low':>8} {'close':>8} {'vwap':>8}")  # fmt: skip
    for symbol in DEFAULT_LISTINGS:
        tape: list[dict[str, Any]] = list(reversed(await app.ask(GetTape(symbol, limit=200))))
        if not tape:
            lines.append(f"  {symbol:8} no trades")
            continue
        prices = [t["price"] for t in tape]
        volume = sum(t["quantity"] for t in tape)
        vwap = sum(t["price"] * t["quantity"] for t in tape) // volume
        lines.append(
            f"  {symbol:8} {len(tape):>6} {volume:>8,} {_money(prices[0]):>8} "
            f"{_money(max(prices)):>8} {_money(min(prices)):>8} {_money(prices[-1]):>8} "
            f"{_money(vwap):>8}"
        )
    halts = [e async for e in app.store.read_all(types=["trading.TradingHalted",
                                                        "trading.TradingResumed"])]  # fmt: skip
    lines.append("halts:")
    for e in halts:
        symbol = e.stream.removeprefix("trading-book-")
        what = "halted" if e.type.endswith("Halted") else "resumed"
        lines.append(f"  {symbol} {what}: {e.data.reason}")
    lines.append("portfolios (projection trading-portfolios: cash, positions, P&L):")
    for p in await app.ask(ListPortfolios()):
        held = ", ".join(f"{x['quantity']:,} {x['symbol']}" for x in p["positions"]
                         if x["quantity"]) or "no shares"  # fmt: skip
        lines.append(
            f"  {p['account']:10} cash {_money(p['cash']):>16}  {held}; realised "
            f"{_money(p['realized'])}, unrealised {_money(p['unrealized'])}"
        )
