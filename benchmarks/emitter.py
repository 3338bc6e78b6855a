"""Emit throughput of eventflux's emitters side by side with their peers, in one process.

Run: .venv/bin/python benchmarks/emitter.py [--quick] [--uvloop]

Sync: eventflux ``EventEmitter.emit``, pyee ``EventEmitter.emit``, blinker
``Signal.send`` and a bare dict-of-lists loop, each with 1 and 10 trivial
listeners taking one argument. Async: coroutine listeners awaited to
completion. Contenders are interleaved within every repeat and the best repeat
counts, so machine noise hits them alike; the ratios matter, not the rates.
The exit code is 0 whatever the results; each target prints PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable

import blinker
import pyee
import pyee.asyncio

from eventflux.emitter import AsyncEventEmitter, EventEmitter


def sync_contenders(listeners: int) -> dict[str, Callable[[int], None]]:
    """Per contender, a function that emits "tick" with one argument ``n`` times.

    Each loop calls its contender directly, with no wrapper, so the loop costs
    all of them the same few nanoseconds per emit.
    """
    ours = EventEmitter()
    wild = EventEmitter(wildcard=True)
    peer = pyee.EventEmitter()
    signal = blinker.Signal()
    table: dict[str, list[Callable[[object], None]]] = {"tick": []}
    fns = [lambda arg: None for _ in range(listeners)]  # distinct functions, as in real code
    for fn in fns:
        ours.on("tick", fn)
        wild.on("tick.*", fn)
        peer.on("tick", fn)
        signal.connect(fn)  # blinker passes the sender as the one argument
        table["tick"].append(fn)

    # The bare loop is a function too, since every contender is one call per emit.
    def bare_emit(name: str, *args: object) -> None:
        for fn in table[name]:
            fn(*args)

    ours_emit, wild_emit, peer_emit, send = ours.emit, wild.emit, peer.emit, signal.send

    def run_ours(n: int) -> None:
        for _ in range(n):
            ours_emit("tick", 1)

    def run_wild(n: int) -> None:
        for _ in range(n):
            wild_emit("tick.a", 1)

    def run_peer(n: int) -> None:
        for _ in range(n):
            peer_emit("tick", 1)

    def run_blinker(n: int) -> None:
        for _ in range(n):
            send(1)

    def run_bare(n: int) -> None:
        for _ in range(n):
            bare_emit("tick", 1)

    return {
        "eventflux EventEmitter.emit": run_ours,
        "pyee EventEmitter.emit": run_peer,
        "blinker Signal.send": run_blinker,
        "bare dict-of-lists loop": run_bare,
        "eventflux wildcard emit (pattern listeners)": run_wild,
    }


def time_sync(run: Callable[[int], None], number: int) -> float:
    gc.disable()
    start = time.perf_counter()
    run(number)
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed


def async_contenders(listeners: int) -> dict[str, Callable[[], Awaitable[None]]]:
    """One coroutine function per contender: emit "tick" and return once every listener finished.

    eventflux's ``emit_async`` awaits the listeners in turn. pyee's
    ``AsyncIOEventEmitter`` schedules each coroutine as a task, so its emit is
    followed by its own ``wait_for_complete()``; eventflux's task-based
    ``emit`` + ``wait_for_complete()`` is shown too, for the same model.
    """
    ours = AsyncEventEmitter()
    peer = pyee.asyncio.AsyncIOEventEmitter()
    for _ in range(listeners):

        async def listener(arg: object) -> None:
            pass

        ours.on("tick", listener)
        peer.on("tick", listener)

    async def ours_awaited() -> None:
        await ours.emit_async("tick", 1)

    async def ours_tasks() -> None:
        ours.emit("tick", 1)
        await ours.wait_for_complete()

    async def peer_tasks() -> None:
        peer.emit("tick", 1)
        await peer.wait_for_complete()

    return {
        "eventflux AsyncEventEmitter.emit_async": ours_awaited,
        "eventflux AsyncEventEmitter.emit + wait": ours_tasks,
        "pyee AsyncIOEventEmitter.emit + wait": peer_tasks,
    }


async def time_async(call: Callable[[], Awaitable[None]], number: int) -> float:
    gc.disable()
    start = time.perf_counter()
    for _ in range(number):
        await call()
    elapsed = time.perf_counter() - start
    gc.enable()
    return elapsed


def best_rates(timings: dict[str, list[float]], number: int) -> dict[str, float]:
    return {name: number / min(times) for name, times in timings.items()}


def run_sync(listeners: int, number: int, repeats: int) -> dict[str, float]:
    contenders = sync_contenders(listeners)
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(repeats):
        names = list(contenders)
        order = names[repeat % len(names) :] + names[: repeat % len(names)]  # rotate the order
        for name in order:
            timings[name].append(time_sync(contenders[name], number))
    return best_rates(timings, number)


def run_async(listeners: int, number: int, repeats: int, use_uvloop: bool) -> dict[str, float]:
    async def main() -> dict[str, float]:
        contenders = async_contenders(listeners)
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        for repeat in range(repeats):
            names = list(contenders)
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            for name in order:
                timings[name].append(await time_async(contenders[name], number))
        return best_rates(timings, number)

    if use_uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    return asyncio.run(main())


def print_table(title: str, rows: list[tuple[str, str, float, float]]) -> None:
    header = ("benchmark", "contender", "emits/s", "eventflux ratio")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}")
        print(" | ".join(header))
        for bench, name, rate, ratio in rows:
            print(f"{bench} | {name} | {rate:,.0f} | {ratio:.2f}x")
        return
    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="right" if column != "contender" else "left")
    for bench, name, rate, ratio in rows:
        table.add_row(bench, name, f"{rate:,.0f}", f"{ratio:.2f}x")
    Console(width=120).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (noisier)")
    parser.add_argument("--uvloop", action="store_true", help="run the async part on uvloop")
    options = parser.parse_args(argv)
    sync_number, async_number, repeats = (
        (20_000, 2_000, 3) if options.quick else (200_000, 20_000, 7)
    )

    rows: list[tuple[str, str, float, float]] = []
    checks: list[tuple[str, float, float]] = []
    for listeners in (1, 10):
        rates = run_sync(listeners, sync_number, repeats)
        ours = rates["eventflux EventEmitter.emit"]
        bench = f"sync, {listeners} listener{'s' if listeners > 1 else ''}"
        rows += [(bench, name, rate, ours / rate) for name, rate in rates.items()]
        target = 2.5 if listeners == 1 else 1.6
        checks.append(
            (f"{bench}: eventflux vs pyee", ours / rates["pyee EventEmitter.emit"], target)
        )
        checks.append(
            (f"{bench}: eventflux vs bare loop", ours / rates["bare dict-of-lists loop"], 0.6)
        )
    for listeners in (1, 10):
        rates = run_async(listeners, async_number, repeats, options.uvloop)
        ours = rates["eventflux AsyncEventEmitter.emit_async"]
        bench = f"async, {listeners} listener{'s' if listeners > 1 else ''}"
        rows += [(bench, name, rate, ours / rate) for name, rate in rates.items()]
        peer = rates["pyee AsyncIOEventEmitter.emit + wait"]
        checks.append((f"{bench}: eventflux emit_async vs pyee", ours / peer, 5.0))

    loop_name = "uvloop" if options.uvloop else "asyncio"
    print_table(
        f"Emitter throughput (Python {sys.version.split()[0]}, {loop_name}; "
        "ratio = eventflux's rate / this rate)",
        rows,
    )
    print()
    for label, ratio, target in checks:
        verdict = "PASS" if ratio >= target else "FAIL"
        print(f"{verdict}  {label}: {ratio:.2f}x (target >= {target}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
