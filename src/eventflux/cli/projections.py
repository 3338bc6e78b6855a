"""``eventflux projections list|status|rebuild|run``: manage read models.

Projections are found by name in the registry
(:func:`eventflux.cqrs.register_projection`). The demos' projections
(``bank-accounts``, ``shop-catalog``) are always there; load your own with
``--app module`` (repeatable) or ``$EVENTFLUX_APP`` (comma separated): each
module registers its projections when imported.

Example::

    eventflux projections list
    eventflux projections status --store sqlite:///shop-events.db
    eventflux projections rebuild shop-catalog --store sqlite:///shop-events.db
    eventflux projections run shop-catalog --store sqlite:///shop-events.db
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..cqrs import (
    ProjectionStatus,
    load_apps,
    projection_entry,
    registered_projections,
    run_projection,
)
from ..exceptions import EventfluxError
from ..store import open_store
from ._common import StoreOption, console, err_console, run, store_url

__all__ = ["register"]

AppOption = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        help="Module that registers projections (repeatable; also $EVENTFLUX_APP).",
        show_default=False,
    ),
]


def _load(apps: list[str] | None) -> None:
    """Import the app modules; a module that cannot be imported is a clear error."""
    try:
        load_apps(apps or [])
    except EventfluxError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None


async def _status(names: list[str], url: str) -> list[tuple[ProjectionStatus, str]]:
    out: list[tuple[ProjectionStatus, str]] = []
    for name in names:
        entry = projection_entry(name)
        projection = entry.factory(url)
        try:
            async with await open_store(url, codec=entry.codec) as store:
                out.append((await projection.status(store), repr(projection.model)))
        finally:
            await projection.model.close()
    return out


async def _rebuild(name: str, url: str) -> tuple[int, ProjectionStatus]:
    entry = projection_entry(name)
    projection = entry.factory(url)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("positions"),
        TimeElapsedColumn(),
    )
    try:
        async with await open_store(url, codec=entry.codec) as store:
            with Progress(*columns, console=console, transient=False) as progress:
                head = await store.last_position()
                task = progress.add_task(f"rebuilding {name}", total=head or 1)

                def advance(position: int, latest: int) -> None:
                    progress.update(task, completed=position, total=max(latest, 1))

                replayed = await projection.rebuild(store, progress=advance)
                progress.update(task, completed=progress.tasks[0].total)
            return replayed, await projection.status(store)
    finally:
        await projection.model.close()


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="List, inspect, rebuild and run projections (the read models' writers).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="projections")

    @group.command("list")
    def list_(apps: AppOption = None) -> None:
        """List the registered projections."""
        _load(apps)
        table = Table("name", "description")
        for entry in registered_projections().values():
            table.add_row(escape(entry.name), escape(entry.description))
        console.print(table)

    @group.command()
    def status(
        names: Annotated[
            list[str] | None, typer.Argument(help="Projections (default: all registered).")
        ] = None,
        store: StoreOption = None,
        apps: AppOption = None,
    ) -> None:
        """Show each projection's checkpoint, the store's head position and the lag."""
        _load(apps)
        chosen = names or list(registered_projections())
        rows = run(_status(chosen, store_url(store)))
        table = Table("name", "checkpoint", "head", "lag", "read model")
        for st, model in rows:
            lag = f"[green]{st.lag}[/]" if st.lag == 0 else f"[yellow]{st.lag}[/]"
            table.add_row(escape(st.name), str(st.checkpoint), str(st.head), lag, escape(model))
        console.print(table)

    @group.command()
    def rebuild(
        name: Annotated[str, typer.Argument(help="The projection to rebuild.")],
        store: StoreOption = None,
        apps: AppOption = None,
    ) -> None:
        """Replay every event into a fresh read model beside the live one, then swap
        it in atomically (queries never see an empty or half-built model)."""
        _load(apps)
        replayed, st = run(_rebuild(name, store_url(store)))
        console.print(
            f"[green]rebuilt {escape(name)}[/]: {replayed} events replayed and swapped in; "
            f"checkpoint {st.checkpoint}, lag {st.lag}"
        )

    @group.command("run")
    def run_(
        name: Annotated[str, typer.Argument(help="The projection to run.")],
        store: StoreOption = None,
        apps: AppOption = None,
    ) -> None:
        """Run a projection in this process: catch up, then follow the store until
        Ctrl-C or SIGTERM (the batch in progress is rolled back whole)."""
        _load(apps)
        url = store_url(store)
        console.print(f"running {escape(name)} on {escape(url)} (Ctrl-C to stop)")
        run(run_projection(name, url))
        console.print(f"stopped {escape(name)}")
