"""``eventflux worker`` and ``eventflux dlq``: run consumers, tend dead letters.

Both take ``--bus URL`` (default: ``$EVENTFLUX_BUS``, else
``sqlite:///eventflux-bus.db``).

``eventflux worker module:app`` imports ``app`` from ``module`` (the current
folder is importable) and runs its subscribers until SIGTERM or SIGINT, then
drains: running handlers finish, unstarted messages are released. An *app* is

* an object with ``async def start(bus)`` (and optionally ``async def stop()``,
  called before the bus closes), or
* a function ``setup(bus)`` (plain or async) that subscribes handlers.

Without ``:app`` the attribute ``app`` is used.

Example::

    # payments.py
    async def setup(bus):
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg): ...

    $ eventflux worker payments:setup --bus sqlite:///shop-bus.db
    $ eventflux dlq list --group payments
    $ eventflux dlq retry --all --group payments
    $ eventflux dlq purge --group payments --yes
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import inspect
import logging
import os
import signal
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ..bus import DeadLetter, MessageBus, open_bus
from ._common import console, err_console, run

__all__ = ["DEFAULT_BUS_URL", "bus_url", "letter_json", "load_app", "main", "register"]

DEFAULT_BUS_URL = "sqlite:///eventflux-bus.db"

BusOption = Annotated[
    str | None,
    typer.Option(
        "--bus",
        help="Message bus URL (default: $EVENTFLUX_BUS, else sqlite:///eventflux-bus.db).",
        show_default=False,
    ),
]
GroupOption = Annotated[str | None, typer.Option("--group", "-g", help="Only this group.")]


def bus_url(url: str | None) -> str:
    """The bus URL: the option, else $EVENTFLUX_BUS, else the embedded default."""
    return url or os.environ.get("EVENTFLUX_BUS") or DEFAULT_BUS_URL


def load_app(target: str) -> Any:
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


async def _start(app: Any, bus: MessageBus) -> Any:
    """Start ``app`` on ``bus``; returns the app object (a class is instantiated)."""
    if inspect.isclass(app):
        app = app()
    start = getattr(app, "start", None)
    if callable(start):
        result = start(bus)
    elif callable(app):
        result = app(bus)
    else:
        raise typer.BadParameter(
            f"{app!r} is not an app: give an object with start(bus) or a function setup(bus)"
        )
    if inspect.isawaitable(result):
        await result
    return app


async def _work(target: str, url: str) -> None:
    app = load_app(target)
    bus = await open_bus(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        app = await _start(app, bus)
        await bus.ready()
        groups = ", ".join(f"{s.subject} -> {s.group}" for s in bus.subscriptions) or "none"
        err_console.print(f"worker {os.getpid()} on {url}: {groups}", highlight=False)
        await stop.wait()
        err_console.print("worker: stopping, letting running handlers finish", highlight=False)
    finally:
        try:
            stop_app = getattr(app, "stop", None)
            if callable(stop_app):
                result = stop_app()
                if inspect.isawaitable(result):
                    await result
        finally:
            await bus.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as JSON (raw undecodable data as ``{"base64": ...}``)."""
    data = letter.data
    if isinstance(data, bytes):
        data = {"base64": base64.b64encode(data).decode()}
    return {
        "id": letter.id,
        "group": letter.group,
        "subject": letter.subject,
        "msg_id": letter.msg_id,
        "key": letter.key,
        "error": letter.error,
        "deliveries": letter.deliveries,
        "dead_at": letter.dead_at.isoformat(),
        "data": data,
    }


async def _list(url: str, group: str | None, subject: str | None, limit: int | None) -> list[Any]:
    async with await open_bus(url) as bus:
        return await bus.dlq.list(group, subject, limit=limit)


async def _retry(url: str, ids: list[str], every: bool, group: str | None) -> int:
    async with await open_bus(url) as bus:
        if every:
            return await bus.dlq.retry_all(group)
        for letter_id in ids:
            await bus.dlq.retry(letter_id)
        return len(ids)


async def _purge(url: str, group: str | None) -> int:
    async with await open_bus(url) as bus:
        return await bus.dlq.purge(group)


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``dlq list|retry|purge`` to the command line."""

    @app.command()
    def worker(
        target: Annotated[str, typer.Argument(help="The app to run, as module:app.")],
        bus: BusOption = None,
        log_level: Annotated[str, typer.Option(help="Logging level.")] = "info",
    ) -> None:
        """Run an app's subscribers as a worker process (graceful on SIGTERM/SIGINT)."""
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        run(_work(target, bus_url(bus)))

    dlq = typer.Typer(help="List, retry and purge dead letters.", no_args_is_help=True)
    app.add_typer(dlq, name="dlq")

    @dlq.command("list")
    def list_(
        bus: BusOption = None,
        group: GroupOption = None,
        subject: Annotated[str | None, typer.Option(help="Subject or pattern.")] = None,
        limit: Annotated[int | None, typer.Option(min=0, help="At most this many.")] = None,
        json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    ) -> None:
        """List dead letters, oldest first."""
        letters = run(_list(bus_url(bus), group, subject, limit))
        if json:
            for letter in letters:
                sys.stdout.write(orjson.dumps(letter_json(letter)).decode() + "\n")
            return
        table = Table(title=f"{len(letters)} dead letter(s)")
        for column in ("id", "group", "subject", "msg_id", "key", "deliveries", "error", "dead at"):
            table.add_column(column, overflow="fold")
        for x in letters:
            table.add_row(
                x.id,
                x.group,
                escape(x.subject),
                escape(x.msg_id),
                escape(x.key or ""),
                str(x.deliveries),
                escape(x.error),
                x.dead_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        console.print(table)

    @dlq.command()
    def retry(
        ids: Annotated[list[str] | None, typer.Argument(help="Letter ids.")] = None,
        every: Annotated[bool, typer.Option("--all", help="Retry every letter.")] = False,
        bus: BusOption = None,
        group: GroupOption = None,
    ) -> None:
        """Send letters back to their group with a fresh delivery budget."""
        if not ids and not every:
            raise typer.BadParameter("give letter ids or --all")
        count = run(_retry(bus_url(bus), ids or [], every, group))
        console.print(f"retried {count} dead letter(s)")

    @dlq.command()
    def purge(
        bus: BusOption = None,
        group: GroupOption = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    ) -> None:
        """Delete dead letters (of one group)."""
        what = f"the dead letters of group {group!r}" if group else "every dead letter"
        if not yes and not typer.confirm(f"Delete {what}?"):
            raise typer.Exit(1)
        count = run(_purge(bus_url(bus), group))
        console.print(f"purged {count} dead letter(s)")


def main() -> None:
    """Run these commands alone: ``python -m eventflux.cli.bus worker app:setup``."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
