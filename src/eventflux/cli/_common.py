"""Helpers shared by the command modules: the default URLs, error reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from .._internal.defaults import DEFAULT_STORE_URL
from .._internal.defaults import store_url as default_store_url
from ..exceptions import EventfluxError

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


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


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn eventflux errors into a message and exit code 1."""
    try:
        return asyncio.run(coro)
    except EventfluxError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
