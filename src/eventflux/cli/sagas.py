"""``eventflux sagas``: list instances, show one with its history, cancel one,
list, cancel and reschedule pending deadlines.

The commands take ``--store URL`` (default: ``$EVENTFLUX_STORE``, else
``sqlite:///eventflux.db``); ``cancel`` also ``--bus URL``, because a
running worker of the App carries it out (its compensations are commands).

Example::

    $ eventflux sagas list --name Fulfilment --state open
    $ eventflux sagas show Fulfilment o-17
    $ eventflux sagas cancel Fulfilment o-17 --reason "customer called"
    $ eventflux sagas deadlines --name Fulfilment
    $ eventflux sagas deadlines reschedule Fulfilment o-17 pay --in 3600
    $ eventflux sagas deadlines cancel Fulfilment o-17 pay
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ..bus import open_bus
from ..sagas import PendingDeadline, SagaAdmin, SagaStep, SagaView
from ._common import StoreOption, console, open_existing_store, run, store_url
from .bus import BusOption, bus_url

__all__ = ["main", "register"]

T = TypeVar("T")
NameOption = Annotated[str | None, typer.Option("--name", "-n", help="Only this saga.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


async def _with_admin(
    store: str | None,
    bus: str | None,
    work: Callable[[SagaAdmin], Awaitable[T]],
    *,
    need_bus: bool = False,
) -> T:
    async with await open_existing_store(store_url(store)) as opened:
        if not need_bus:
            return await work(SagaAdmin(opened))
        async with await open_bus(bus_url(bus)) as bus_handle:
            return await work(SagaAdmin(opened, bus_handle))


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _short(value: Any, width: int = 60) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def _views_table(views: list[SagaView]) -> Table:
    table = Table(title=f"{len(views)} saga instance(s)")
    for column in ("saga", "key", "status", "version", "deadlines", "updated", "state"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            escape(v.saga),
            escape(v.key),
            escape(v.status),
            str(v.version),
            escape(", ".join(f"{n} {_when(d)}" for n, d in v.deadlines.items())),
            _when(v.updated_at),
            escape(_short(dict(v.state))),
        )
    return table


def _history_table(steps: list[SagaStep]) -> Table:
    table = Table(title="history")
    for column in ("#", "at", "event", "input", "handler", "sent", "published", "deadlines"):
        table.add_column(column, overflow="fold")
    for s in steps:
        table.add_row(
            str(s.version),
            _when(s.at),
            s.type,
            escape(f"{s.input_kind} {s.input_name}"),
            escape(s.handler or ""),
            escape(", ".join(s.sent)),
            escape(", ".join(s.published)),
            escape(", ".join(f"{n} {_when(d)}" for n, d in s.deadlines.items())),
        )
    return table


def _deadlines_table(deadlines: list[PendingDeadline]) -> Table:
    table = Table(title=f"{len(deadlines)} pending deadline(s)")
    for column in ("due", "saga", "key", "deadline"):
        table.add_column(column, overflow="fold")
    for d in deadlines:
        table.add_row(d.due.isoformat(), escape(d.saga), escape(d.key), escape(d.name))
    return table


def _when_option(at: str | None, seconds: float | None) -> object:
    if (at is None) == (seconds is None):
        raise typer.BadParameter("give --at ISO-TIME or --in SECONDS")
    if seconds is not None:
        return seconds
    assert at is not None
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise typer.BadParameter(f"--at {at!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise typer.BadParameter("--at needs a time zone, e.g. 2030-01-01T12:00:00+00:00")
    return when


def register(app: typer.Typer) -> None:
    """Add ``sagas list|show|cancel|deadlines`` to the command line."""

    sagas = typer.Typer(help="Saga instances and their deadlines.", no_args_is_help=True)
    app.add_typer(sagas, name="sagas")

    @sagas.command("list")
    def list_(
        name: NameOption = None,
        state: Annotated[
            str | None,
            typer.Option(help="open, finished, or an outcome (completed, cancelled...)."),
        ] = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
        store: StoreOption = None,
        json: JsonOption = False,
    ) -> None:
        """List saga instances (by saga and state)."""
        views = run(_with_admin(store, None, lambda a: a.instances(name, state=state, limit=limit)))
        if json:
            _print_json([v.as_dict() for v in views])
            return
        console.print(_views_table(views))

    @sagas.command()
    def show(
        name: Annotated[str, typer.Argument(help="The saga's name.")],
        key: Annotated[str, typer.Argument(help="The instance key.")],
        store: StoreOption = None,
        json: JsonOption = False,
    ) -> None:
        """Show one instance: its state, deadlines and every reaction."""

        async def work(admin: SagaAdmin) -> tuple[SagaView | None, list[SagaStep]]:
            return await admin.instance(name, key), await admin.history(name, key)

        view, steps = run(_with_admin(store, None, work))
        if view is None:
            console.print(f"[red]saga {escape(name)!r} has no instance {escape(key)!r}[/]")
            raise typer.Exit(1)
        if json:
            _print_json({**view.as_dict(), "history": [s.as_dict() for s in steps]})
            return
        console.print(_views_table([view]))
        console.print(_history_table(steps))

    @sagas.command()
    def cancel(
        name: Annotated[str, typer.Argument(help="The saga's name.")],
        key: Annotated[str, typer.Argument(help="The instance key.")],
        reason: Annotated[str, typer.Option(help="Why (given to on_cancel).")] = "cancelled",
        outcome: Annotated[str, typer.Option(help="The outcome it finishes with.")] = "cancelled",
        wait: Annotated[
            float, typer.Option(help="Seconds to wait for a worker to finish it (0: do not wait).")
        ] = 30.0,
        store: StoreOption = None,
        bus: BusOption = None,
    ) -> None:
        """Cancel an instance: a worker running the saga runs its compensations
        (newest first) and finishes it."""

        async def work(admin: SagaAdmin) -> SagaView:
            return await admin.cancel(
                name, key, reason=reason, outcome=outcome, wait=wait or None, actor="cli"
            )

        view = run(_with_admin(store, bus, work, need_bus=True))
        if view.finished:
            console.print(
                f"saga {escape(name)} {escape(key)}: finished, outcome {escape(str(view.outcome))}"
            )
        else:
            console.print(f"saga {escape(name)} {escape(key)}: cancel requested")

    deadlines = typer.Typer(
        help="List pending deadlines (no subcommand), cancel or reschedule one.",
        invoke_without_command=True,
    )
    sagas.add_typer(deadlines, name="deadlines")

    @deadlines.callback()
    def deadlines_list(
        ctx: typer.Context,
        name: NameOption = None,
        key: Annotated[str | None, typer.Option(help="Only this instance (with --name).")] = None,
        store: StoreOption = None,
        json: JsonOption = False,
    ) -> None:
        """Pending deadlines, soonest first."""
        if ctx.invoked_subcommand is not None:
            return
        if key is not None and name is None:
            raise typer.BadParameter("--key needs --name")
        found = run(_with_admin(store, None, lambda a: a.deadlines(name, key=key)))
        if json:
            _print_json([d.as_dict() for d in found])
            return
        console.print(_deadlines_table(found))

    @deadlines.command("cancel")
    def deadline_cancel(
        name: Annotated[str, typer.Argument(help="The saga's name.")],
        key: Annotated[str, typer.Argument(help="The instance key.")],
        deadline: Annotated[str, typer.Argument(help="The deadline's name.")],
        store: StoreOption = None,
    ) -> None:
        """Cancel a pending deadline: it never fires."""
        run(_with_admin(store, None, lambda a: a.cancel_deadline(name, key, deadline, actor="cli")))
        console.print(f"cancelled deadline {escape(deadline)} of {escape(name)} {escape(key)}")

    @deadlines.command("reschedule")
    def deadline_reschedule(
        name: Annotated[str, typer.Argument(help="The saga's name.")],
        key: Annotated[str, typer.Argument(help="The instance key.")],
        deadline: Annotated[str, typer.Argument(help="The deadline's name.")],
        at: Annotated[str | None, typer.Option("--at", help="An aware ISO 8601 time.")] = None,
        seconds: Annotated[
            float | None, typer.Option("--in", help="Seconds from now.", show_default=False)
        ] = None,
        store: StoreOption = None,
    ) -> None:
        """Move a pending deadline to another time."""
        when = _when_option(at, seconds)
        view = run(
            _with_admin(store, None, lambda a: a.reschedule(name, key, deadline, when, actor="cli"))
        )
        console.print(
            f"deadline {escape(deadline)} of {escape(name)} {escape(key)} is due at "
            f"{view.deadlines[deadline].isoformat()}"
        )


def main() -> None:
    """Run these commands alone: ``python -m eventflux.cli.sagas list``."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
