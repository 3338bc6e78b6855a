"""``eventflux dlq``: list, retry and purge dead letters.

The commands take ``--bus URL`` (default: ``$EVENTFLUX_BUS``, else
``sqlite:///eventflux-bus.db``). They never create a bus: a SQLite bus file
that does not exist is an error (exit code 2) that names close file names.

Example::

    $ eventflux dlq list --group payments
    $ eventflux dlq retry --all --group payments
    $ eventflux dlq purge --group payments --yes
"""

from __future__ import annotations

import base64
import difflib
import os
import sys
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from .._internal.defaults import DEFAULT_BUS_URL
from .._internal.defaults import bus_url as default_bus_url
from .._internal.urls import parse_url, sqlite_path
from ..bus import DeadLetter, open_bus
from ..exceptions import EventfluxError
from ._common import console, err_console, run

__all__ = [
    "BusOption",
    "GroupOption",
    "bus_url",
    "existing_bus",
    "letter_json",
    "main",
    "register",
]

BusOption = Annotated[
    str | None,
    typer.Option(
        "--bus",
        help=f"Message bus URL (default: $EVENTFLUX_BUS, else {DEFAULT_BUS_URL}).",
        show_default=False,
    ),
]
GroupOption = Annotated[str | None, typer.Option("--group", "-g", help="Only this group.")]


def bus_url(url: str | None) -> str:
    """The bus URL: the option, else $EVENTFLUX_BUS, else the embedded default."""
    return default_bus_url(url)


def existing_bus(url: str | None) -> str:
    """The bus URL (see :func:`bus_url`), once its SQLite file is known to exist:
    reading or operating on a bus never creates one. Exits with code 2 (and
    close names of files in the folder) when it does not."""
    url = bus_url(url)
    try:
        parts, _ = parse_url(url)
        if parts.scheme.lower() != "sqlite":
            return url
        path = sqlite_path(parts)
    except EventfluxError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None
    if os.path.exists(path):
        return url
    folder = os.path.dirname(path) or "."
    names = (
        sorted(n for n in os.listdir(folder) if n.endswith(".db")) if os.path.isdir(folder) else []
    )
    close = difflib.get_close_matches(os.path.basename(path), names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    err_console.print(
        f"[bold red]error:[/] there is no bus at {path!r}{hint} "
        "(check --bus or $EVENTFLUX_BUS; reading never creates a bus)",
        highlight=False,
    )
    raise typer.Exit(2)


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
    """Add ``dlq list|retry|purge`` to the command line."""

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
        letters = run(_list(existing_bus(bus), group, subject, limit))
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
        count = run(_retry(existing_bus(bus), ids or [], every, group))
        console.print(f"retried {count} dead letter(s)")

    @dlq.command()
    def purge(
        bus: BusOption = None,
        group: GroupOption = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    ) -> None:
        """Delete dead letters (of one group)."""
        url = existing_bus(bus)
        what = f"the dead letters of group {group!r}" if group else "every dead letter"
        if not yes and not typer.confirm(f"Delete {what}?"):
            raise typer.Exit(1)
        count = run(_purge(url, group))
        console.print(f"purged {count} dead letter(s)")


def main() -> None:
    """Run these commands alone: ``python -m eventflux.cli.bus dlq list``."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
