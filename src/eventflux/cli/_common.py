"""Helpers shared by the command modules: the default URLs, error reporting."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .._internal.defaults import DEFAULT_STORE_URL
from .._internal.defaults import store_url as default_store_url
from .._internal.urls import parse_url, sqlite_path
from ..codec import Codec
from ..exceptions import EventfluxError, StoreUnavailableError
from ..store import EventStore, open_store

T = TypeVar("T")

# A table piped to a file or another program is not wrapped at 80 columns
# mid-token: without a terminal the width is unbounded.
_PIPED_WIDTH = 10_000
console = Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)


#: The ``--store`` option of the commands that open an event store.
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=f"Event store URL (default: $EVENTFLUX_STORE, else {DEFAULT_STORE_URL}).",
        show_default=False,
    ),
]


def store_url(url: str | None) -> str:
    """The store URL: the option, else $EVENTFLUX_STORE, else the embedded default."""
    return default_store_url(url)


async def open_existing_store(url: str, *, codec: Codec | None = None) -> EventStore:
    """Open the store at ``url``; a SQLite file that does not exist is an error
    (reading never creates a store)."""
    parts, _ = parse_url(url)
    if parts.scheme.lower() == "sqlite":
        path = sqlite_path(parts)
        if not await asyncio.to_thread(os.path.exists, path):
            raise StoreUnavailableError(
                f"there is no event store at {path!r}; check --store or $EVENTFLUX_STORE"
            )
    return await open_store(url, codec=codec)


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Turn an eventflux error into a one-line message and exit code 1."""
    try:
        yield
    except EventfluxError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn eventflux errors into a message and exit code 1."""
    with errors_as_messages():
        try:
            return asyncio.run(coro)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
