"""``eventflux backup``: a consistent copy of a live event store.

``eventflux backup --store sqlite:///bank.db backups/bank-2024-06-01.db`` copies
the store with SQLite's online backup API while its processes keep writing:
the copy is one consistent state (everything committed before the command
started, and a prefix of the store's history), in one self-contained file.
The destination must not exist: a backup never replaces a file. A PostgreSQL
store is backed up with ``pg_dump``; for a ``postgresql://`` URL the command
prints the ``pg_dump`` command to run.

Example::

    eventflux backup --store sqlite:///bank.db /backups/bank-$(date +%F).db
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

import typer

from .._internal.urls import parse_url
from ..exceptions import ConfigurationError
from ._common import StoreOption, console, open_existing_store, run, store_url

__all__ = ["pg_dump_command", "register"]

_EVENTFLUX_OPTIONS = (
    "schema",
    "pool_min",
    "pool_max",
    "wait_timeout",
    "poll_interval",
    "max_event_bytes",
    "max_append_events",
    "max_append_bytes",
)


def pg_dump_command(url: str, dest: str) -> str:
    """The ``pg_dump`` command that backs up the PostgreSQL store at ``url``.

    Example::

        pg_dump_command("postgresql://app@db/shop?schema=orders", "orders.dump")
        # "pg_dump --schema=orders --format=custom --file=orders.dump 'postgresql://app@db/shop'"
    """
    parts, options = parse_url(url)
    schema = options.get("schema", "eventflux")
    libpq = {k: v for k, v in options.items() if k not in _EVENTFLUX_OPTIONS}
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq), ""))
    return f"pg_dump --schema={schema} --format=custom --file={dest} '{conninfo}'"


async def _backup(url: str, dest: Path) -> int:
    scheme = parse_url(url)[0].scheme.lower()
    if scheme in ("postgresql", "postgres"):
        raise ConfigurationError(
            "a PostgreSQL store is backed up with PostgreSQL's own tool, while it runs:\n  "
            + pg_dump_command(url, str(dest))
            + "\nand restored with pg_restore (docs/store.md, Backups)"
        )
    if scheme == "memory":
        raise ConfigurationError("a memory:// store lives in one process: there is nothing to copy")
    async with await open_existing_store(url) as store:
        return await store.backup(dest)


def register(app: typer.Typer) -> None:
    """Add the ``backup`` command to ``app``."""

    @app.command()
    def backup(
        dest: Annotated[
            Path,
            typer.Argument(
                help="The new file to write (or a folder to write it in, under the "
                "store's file name); an existing file is never replaced.",
                show_default=False,
            ),
        ],
        store: StoreOption = None,
    ) -> None:
        """Write a consistent copy of a live event store to a new file (SQLite; for
        PostgreSQL it prints the pg_dump command)."""
        url = store_url(store)
        if dest.is_dir():
            dest = dest / Path(urlsplit(url).path).name
        last = run(_backup(url, dest))
        console.print(
            f"backed up {url} to {dest} ({dest.stat().st_size:,} bytes; "
            f"events up to position {last})",
            highlight=False,
        )
