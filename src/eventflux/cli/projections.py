"""``eventflux projections list|status|rebuild|run``: the read models of Apps.

Projections belong to Apps (``app.projection(cls)``): name the Apps with
``--app module:app`` (repeatable) or ``$EVENTFLUX_APP`` (comma separated). The
store is the App's (``--store`` overrides it) and the read model the App's
read model beside it. No command creates a store (a missing one is an error,
exit code 2), and only ``run`` creates a read model: the first run of an App's
projections builds it; ``status`` shows a missing one as not created and
``rebuild`` refuses it. A read model built from another store, or whose
checkpoint is beyond the store's head, is refused (exit code 2), as is a
rebuild that would swap an empty model over a live one that holds events;
``rebuild --force`` rebuilds the model from the store given all the same.

Example::

    eventflux projections list --app eventflux.demos.shop:app
    eventflux projections status --app eventflux.demos.shop:app
    eventflux projections rebuild shop-catalog --app eventflux.demos.shop:app
    eventflux projections run --app myshop:app       # until SIGTERM or Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..app import App
from ..cqrs import Projection, ProjectionStatus, open_read_model
from ..exceptions import ReadModelNotFoundError, UnknownProjectionError
from ..store import EventStore
from ._common import StoreOption, console, errors_as_messages, open_existing_store, run
from .worker import load_target

__all__ = ["register"]

AppOption = Annotated[
    list[str] | None,
    typer.Option(
        "--app",
        help="module:app whose projections to use (repeatable; also $EVENTFLUX_APP).",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class _Target:
    app: App
    cls: type[Projection]

    @property
    def name(self) -> str:
        return self.cls.name


def _apps(names: list[str] | None) -> list[App]:
    wanted = list(names or [])
    wanted += [n.strip() for n in os.environ.get("EVENTFLUX_APP", "").split(",") if n.strip()]
    if not wanted:
        raise typer.BadParameter(
            "name the App whose projections to use: --app module:app (or $EVENTFLUX_APP)",
            param_hint="--app",
        )
    apps: list[App] = []
    for name in wanted:
        obj = load_target(name)
        if not isinstance(obj, App):
            raise typer.BadParameter(f"{name!r} is not an eventflux.App", param_hint="--app")
        apps.append(obj)
    return apps


def _targets(apps: list[App], names: list[str] | None) -> list[_Target]:
    every = [_Target(app, spec.cls) for app in apps for spec in app.projections]
    if not names:
        return every
    by_name = {t.name: t for t in every}
    missing = [n for n in names if n not in by_name]
    if missing:
        known = ", ".join(sorted(by_name)) or "none"
        raise UnknownProjectionError(
            f"no projection named {', '.join(map(repr, missing))} in the Apps given "
            f"(they have: {known})"
        )
    return [by_name[n] for n in names]


@contextlib.asynccontextmanager
async def _opened(
    target: _Target, store_url: str | None, *, existing: bool = False
) -> AsyncIterator[tuple[EventStore, Projection]]:
    """The App's store (which must exist) and the projection on its read model;
    with ``existing``, a read model that was never created is an error."""
    app = target.app
    url = store_url or app.store_url
    store = await open_existing_store(url, codec=app.codec)
    model = open_read_model(app.read_model_url_for(url))
    try:
        if existing and not await model.exists():
            raise ReadModelNotFoundError(
                f"there is no read model at {model.url} for projection {target.name!r}: "
                "nothing to rebuild, and nothing was created. Check --store and "
                "$EVENTFLUX_READ_MODEL; a first run builds it (eventflux projections run)"
            )
        yield store, target.cls(model)
    finally:
        await model.close()
        await store.close()


async def _status(
    targets: list[_Target], store_url: str | None
) -> list[tuple[str, ProjectionStatus, str]]:
    rows = []
    for t in targets:
        async with _opened(t, store_url) as (store, projection):
            where = repr(projection.model)
            if not await projection.model.exists():
                where += " (not created)"
            rows.append((t.app.name, await projection.status(store), where))
    return rows


async def _rebuild(
    target: _Target, store_url: str | None, force: bool
) -> tuple[int, ProjectionStatus]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("positions"),
        TimeElapsedColumn(),
    )
    async with _opened(target, store_url, existing=True) as (store, projection):
        with Progress(*columns, console=console, transient=False) as progress:
            head = await store.last_position()
            task = progress.add_task(f"rebuilding {target.name}", total=head or 1)

            def advance(position: int, latest: int) -> None:
                progress.update(task, completed=position, total=max(latest, 1))

            replayed = await projection.rebuild(store, progress=advance, force=force)
            progress.update(task, completed=progress.tasks[0].total)
        return replayed, await projection.status(store)


async def _run(targets: list[_Target], store_url: str | None) -> None:
    """Run the projections until SIGTERM/SIGINT; the batch in progress rolls back."""
    async with contextlib.AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []
        for t in targets:
            store, projection = await stack.enter_async_context(_opened(t, store_url))
            tasks.append(asyncio.create_task(projection.run(store), name=f"projection {t.name}"))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        stopping = asyncio.create_task(stop.wait())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done:
                    task.result()  # a projection failed: its error
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, stopping, return_exceptions=True)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="List, inspect, rebuild and run the projections of Apps (--app module:app).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="projections")

    @group.command("list")
    def list_(apps: AppOption = None) -> None:
        """List the projections of the Apps, with their read models."""
        table = Table("app", "projection", "read model")
        with errors_as_messages():
            targets = _targets(_apps(apps), None)
        for target in targets:
            table.add_row(
                escape(target.app.name),
                escape(target.name),
                escape(target.app.read_model_url),
            )
        console.print(table)

    @group.command()
    def status(
        names: Annotated[
            list[str] | None, typer.Argument(help="Projections (default: all of the Apps).")
        ] = None,
        store: StoreOption = None,
        apps: AppOption = None,
    ) -> None:
        """Show each projection's checkpoint, the store's head position and the lag."""
        with errors_as_messages():
            targets = _targets(_apps(apps), names)
        rows = run(_status(targets, store))
        table = Table("app", "projection", "checkpoint", "head", "lag", "read model")
        for app_name, st, model in rows:
            lag = f"[green]{st.lag}[/]" if st.lag == 0 else f"[yellow]{st.lag}[/]"
            table.add_row(
                escape(app_name),
                escape(st.name),
                str(st.checkpoint),
                str(st.head),
                lag,
                escape(model),
            )
        console.print(table)

    @group.command()
    def rebuild(
        name: Annotated[str, typer.Argument(help="The projection to rebuild.")],
        store: StoreOption = None,
        apps: AppOption = None,
        force: Annotated[
            bool,
            typer.Option(
                "--force",
                help="Rebuild from this store even if the read model was built from "
                "another one, or if the store has no events for it (the model is emptied).",
            ),
        ] = False,
    ) -> None:
        """Replay every event into a fresh read model beside the live one, then swap
        it in atomically (queries never see an empty or half-built model)."""
        with errors_as_messages():
            (target,) = _targets(_apps(apps), [name])
        replayed, st = run(_rebuild(target, store, force))
        console.print(
            f"[green]rebuilt {escape(name)}[/]: {replayed} events replayed and swapped in; "
            f"checkpoint {st.checkpoint}, lag {st.lag}"
        )

    @group.command("run")
    def run_(
        names: Annotated[
            list[str] | None, typer.Argument(help="Projections (default: all of the Apps).")
        ] = None,
        store: StoreOption = None,
        apps: AppOption = None,
    ) -> None:
        """Run projections in this process: catch up, then follow the store until
        Ctrl-C or SIGTERM (the batch in progress is rolled back whole)."""
        with errors_as_messages():
            targets = _targets(_apps(apps), names)
        shown = ", ".join(escape(t.name) for t in targets)
        console.print(f"running {shown} (Ctrl-C to stop)")
        run(_run(targets, store))
        console.print(f"stopped {shown}")
