"""``eventflux worker module:app``: run an application's consumers in this process.

``module:app`` is imported from the working folder (``:app`` defaults to the
attribute ``app``). It is

* an :class:`eventflux.App`: its subscribers, relays and background tasks run
  on its store and bus (``--store`` / ``--bus`` override the App's URLs); or
* an object with ``async def start(bus)`` (and optionally ``async def stop()``,
  called before the bus closes), or a function ``setup(bus)`` (plain or async)
  that subscribes handlers on the ``--bus`` bus.

The worker runs until SIGTERM or SIGINT, then drains: unstarted messages are
released at once, running handlers get ``--drain-timeout`` seconds (default
30) to finish, then they are cancelled and their messages go back unacked.
N workers of one App share its consumer groups' work. ``--metrics-port N``
serves this process's Prometheus metrics at ``http://127.0.0.1:N/metrics``
(each worker process exposes its own).

Example::

    $ eventflux worker eventflux.demos.shop:app --metrics-port 9100
    $ eventflux worker payments:setup --bus sqlite:///shop-bus.db --drain-timeout 10
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import signal
import sys
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer

from ..app import App
from ..bus import MessageBus, open_bus
from ..observability.logs import configure_logging
from ..observability.metrics import start_metrics_server
from ..store import open_store
from ._common import StoreOption, err_console, run
from .bus import BusOption, bus_url

__all__ = ["load_target", "register"]


def load_target(target: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted; default ``app``)."""
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise typer.BadParameter(f"{target!r} is not module:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise typer.BadParameter(f"cannot import {module_name!r}: {e}") from None
    for part in (attr or "app").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise typer.BadParameter(
                f"{module_name!r} has no attribute {attr or 'app'!r}"
            ) from None
    return obj


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def _forget_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


#: Seconds running handlers get to finish when the worker stops, by default.
DRAIN_TIMEOUT = 30.0


async def _drain(bus: MessageBus, seconds: float) -> None:
    """Stop every member of ``bus`` at once (the bus stays open for publishing):
    running handlers get ``seconds`` to finish, then are cancelled."""
    handlers = {s.handler for s in bus.subscriptions}
    await asyncio.gather(*(bus.unsubscribe(h, timeout=seconds) for h in handlers))


async def _run_app(
    app: App, store: str | None, bus: str | None, drain: float = DRAIN_TIMEOUT
) -> None:
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        async with AsyncExitStack() as stack:
            shared_store = None
            shared_bus = None
            if store is not None:
                shared_store = await open_store(store)
                stack.push_async_callback(shared_store.close)
            if bus is not None:
                shared_bus = await open_bus(bus)
                stack.push_async_callback(shared_bus.close)
            async with app.running(store=shared_store, bus=shared_bus):
                await app.bus.ready()
                groups = ", ".join(f"{s.subject} -> {s.group}" for s in app.subscriptions)
                err_console.print(
                    f"worker {os.getpid()}: app {app.name!r} on {store or app.store_url} and "
                    f"{bus or app.bus_url}; groups: {groups or 'none'}; "
                    f"relays: {len(app.relays)}",
                    highlight=False,
                )
                await stop.wait()
                err_console.print(
                    "worker: stopping, letting running handlers finish", highlight=False
                )
                await _drain(app.bus, drain)
    finally:
        _forget_signals()


async def _start(target: Any, bus: MessageBus) -> Any:
    """Start a ``start(bus)`` object or a ``setup(bus)`` function; returns the object."""
    if inspect.isclass(target):
        target = target()
    start = getattr(target, "start", None)
    if callable(start):
        result = start(bus)
    elif callable(target):
        result = target(bus)
    else:
        raise typer.BadParameter(
            f"{target!r} is not an app: give an eventflux.App, an object with start(bus) "
            "or a function setup(bus)"
        )
    if inspect.isawaitable(result):
        await result
    return target


async def _run_setup(target: Any, url: str, drain: float = DRAIN_TIMEOUT) -> None:
    bus = await open_bus(url)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        target = await _start(target, bus)
        await bus.ready()
        groups = ", ".join(f"{s.subject} -> {s.group}" for s in bus.subscriptions) or "none"
        err_console.print(f"worker {os.getpid()} on {url}: {groups}", highlight=False)
        await stop.wait()
        err_console.print("worker: stopping, letting running handlers finish", highlight=False)
    finally:
        try:
            stop_target = getattr(target, "stop", None)
            if callable(stop_target):
                result = stop_target()
                if inspect.isawaitable(result):
                    await result
        finally:
            await bus.close(timeout=drain)
            _forget_signals()


async def _work(target_name: str, store: str | None, bus: str | None, drain: float) -> None:
    target = load_target(target_name)
    if isinstance(target, App):
        await _run_app(target, store, bus, drain)
    else:
        await _run_setup(target, bus_url(bus), drain)


def register(app: typer.Typer) -> None:
    """Add ``worker`` to the command line."""

    @app.command()
    def worker(
        target: Annotated[str, typer.Argument(help="The app to run, as module:app.")],
        store: StoreOption = None,
        bus: BusOption = None,
        log_level: Annotated[
            str | None, typer.Option(help="Logging level (default: $EVENTFLUX_LOG_LEVEL, INFO).")
        ] = None,
        metrics_port: Annotated[
            int | None,
            typer.Option(
                min=1,
                max=65535,
                metavar="PORT",
                help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics.",
                show_default=False,
            ),
        ] = None,
        drain_timeout: Annotated[
            float,
            typer.Option(
                min=0.0,
                metavar="SECONDS",
                help="On SIGTERM/SIGINT, how long running handlers may finish.",
            ),
        ] = DRAIN_TIMEOUT,
    ) -> None:
        """Run an app's subscribers, relays and tasks (graceful on SIGTERM/SIGINT)."""
        configure_logging(log_level)
        if metrics_port is not None:
            try:
                start_metrics_server(metrics_port)
            except OSError as e:
                err_console.print(
                    f"[bold red]error:[/] cannot serve metrics on port {metrics_port}: {e}",
                    highlight=False,
                )
                raise typer.Exit(2) from None
            err_console.print(
                f"worker {os.getpid()}: metrics at http://127.0.0.1:{metrics_port}/metrics",
                highlight=False,
            )
        run(_work(target, store, bus, drain_timeout))
