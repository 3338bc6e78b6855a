"""``eventflux streams``, ``eventflux read`` and ``eventflux tail``: look into an event store.

Each command takes ``--store URL`` (default: ``$EVENTFLUX_STORE``, else
``sqlite:///eventflux.db``), which must name an existing store (they never
create one), and prints rich tables, or JSON lines with
``--json`` (one object per event: id, stream, version, position, type, data,
metadata, recorded_at in ISO 8601).

Example::

    eventflux streams --prefix account-
    eventflux read account-42 --as-of 2024-06-01T12:00:00Z
    eventflux tail --after 1500 --json
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from ..events import RecordedEvent
from ..exceptions import StreamNotFoundError
from ._common import StoreOption, close_names, console, open_existing_store, run, store_url

__all__ = ["event_json", "parse_time", "register"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of tables.")]


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time for ``--as-of``; a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2024-06-01T12:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def event_json(e: RecordedEvent) -> str:
    """One event as a JSON object on one line."""
    return msgspec.json.encode(
        {
            "id": str(e.id),
            "stream": e.stream,
            "version": e.version,
            "position": e.position,
            "type": e.type,
            "data": _plain(e.data),
            "metadata": e.metadata,
            "recorded_at": e.recorded_at.isoformat(),
        }
    ).decode()


def _compact(value: Any) -> str:
    return msgspec.json.encode(_plain(value)).decode()


def _events_table(title: str, events: list[RecordedEvent]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("version", "position"):
        table.add_column(name, justify="right")
    for name in ("type", "recorded_at (UTC)", "data", "metadata"):
        table.add_column(name, overflow="fold")
    for e in events:
        table.add_row(
            str(e.version),
            str(e.position),
            escape(e.type),
            e.recorded_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            escape(_compact(e.data)),
            escape(_compact(e.metadata)) if e.metadata else "",
        )
    return table


async def _streams(url: str, prefix: str, as_json: bool) -> None:
    async with await open_existing_store(url) as store:
        names = await store.streams(prefix)
        versions = [await store.stream_version(n) for n in names]
    if as_json:
        for name, version in zip(names, versions, strict=True):
            typer.echo(msgspec.json.encode({"stream": name, "version": version}).decode())
        return
    table = Table(title=f"{len(names)} stream(s)", title_justify="left")
    table.add_column("stream", overflow="fold")
    table.add_column("version", justify="right")
    for name, version in zip(names, versions, strict=True):
        table.add_row(escape(name), str(version))
    console.print(table)


async def _read(
    url: str,
    stream: str,
    as_of: datetime | None,
    from_version: int | None,
    backwards: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    async with await open_existing_store(url) as store:
        if stream not in await store.streams(stream):
            near = close_names(stream, await store.streams())
            hint = f"; streams with close names: {', '.join(near)}" if near else ""
            raise StreamNotFoundError(
                f"there is no stream {stream!r} in the store (it has no events, or was "
                f"deleted){hint}"
            )
        it = store.read(
            stream, from_version=from_version, backwards=backwards, limit=limit, as_of=as_of
        )
        if as_json:
            async for e in it:
                typer.echo(event_json(e))
            return
        events = [e async for e in it]
    when = "" if as_of is None else f" as of {as_of.isoformat()}"
    console.print(_events_table(f"{stream}: {len(events)} event(s){when}", events))


async def _tail(url: str, after: int | None, as_json: bool, max_events: int | None) -> None:
    async with await open_existing_store(url) as store:
        start = await store.last_position() if after is None else after
        if not as_json:
            console.print(f"[dim]following events after position {start}; Ctrl-C stops[/]")
        seen = 0
        async for e in store.subscribe(after=start):
            if as_json:
                typer.echo(event_json(e))
            else:
                console.print(
                    f"[bold]{e.position}[/] {escape(e.stream)}@{e.version} "
                    f"[cyan]{escape(e.type)}[/] {escape(_compact(e.data))}",
                    highlight=False,
                )
            seen += 1
            if max_events is not None and seen >= max_events:
                return


def register(app: typer.Typer) -> None:
    """Add the event store commands (streams, read, tail) to ``app``."""

    @app.command()
    def streams(
        prefix: Annotated[str, typer.Option(help="Only streams starting with this.")] = "",
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List the streams that hold events, with their versions."""
        run(_streams(store_url(store), prefix, as_json))

    @app.command()
    def read(
        stream: Annotated[str, typer.Argument(help="The stream to read.")],
        as_of: Annotated[
            str | None,
            typer.Option(
                help="Only events recorded at or before this ISO 8601 time "
                "(a time without a zone is taken as UTC).",
                show_default=False,
            ),
        ] = None,
        from_version: Annotated[
            int | None,
            typer.Option(min=0, help="First version to read (inclusive).", show_default=False),
        ] = None,
        backwards: Annotated[bool, typer.Option(help="Newest first.")] = False,
        limit: Annotated[
            int | None, typer.Option(min=0, help="At most this many events.", show_default=False)
        ] = None,
        store: StoreOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Print the events of one stream, in version order (a stream that does not
        exist is an error, exit code 1; a store that does not exist, exit code 2)."""
        when = None if as_of is None else parse_time(as_of)
        run(_read(store_url(store), stream, when, from_version, backwards, limit, as_json))

    @app.command()
    def tail(
        after: Annotated[
            int | None,
            typer.Option(
                min=0,
                help="Start after this global position (default: only new events).",
                show_default=False,
            ),
        ] = None,
        store: StoreOption = None,
        as_json: JsonOption = False,
        max_events: Annotated[int | None, typer.Option("--max", min=1, hidden=True)] = None,
    ) -> None:
        """Follow the store live: print every event as it is committed (Ctrl-C stops)."""
        run(_tail(store_url(store), after, as_json, max_events))
