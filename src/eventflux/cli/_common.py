"""Helpers shared by the command modules: the default URLs, opening a store that
must already exist, error reporting and exit codes.

Exit codes: 0 done; 1 the operation failed (an eventflux error); 2 what the
command was pointed at is not there or not the right one, or the command line
is wrong (a missing store or read model, a read model of another store or
ahead of it, a rebuild that needs ``--force``, a bad URL or option); 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import difflib
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .._internal.defaults import DEFAULT_STORE_URL
from .._internal.defaults import store_url as default_store_url
from .._internal.urls import parse_url, sqlite_path
from ..codec import Codec
from ..exceptions import (
    CheckpointAheadError,
    ConfigurationError,
    EventfluxError,
    ReadModelNotFoundError,
    StoreNotFoundError,
    UnsafeRebuildError,
    WrongStoreError,
)
from ..store import EventStore, open_store

__all__ = [
    "StoreOption",
    "close_names",
    "console",
    "err_console",
    "errors_as_messages",
    "open_existing_store",
    "run",
    "store_url",
]

T = TypeVar("T")

# A table piped to a file or another program is not wrapped at 80 columns
# mid-token: without a terminal the width is unbounded.
_PIPED_WIDTH = 10_000
console = Console(width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)

#: The errors that mean "not there", "not the right one" or "asked wrongly": exit code 2.
USAGE_ERRORS = (
    StoreNotFoundError,
    ReadModelNotFoundError,
    WrongStoreError,
    CheckpointAheadError,
    UnsafeRebuildError,
    ConfigurationError,
)


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


def close_names(wanted: str, names: list[str], n: int = 3) -> list[str]:
    """Names like ``wanted``: close spellings first, then names that contain it.

    Example::

        close_names("bob", ["account-bob", "account-ann"])   # ["account-bob"]
    """
    found = difflib.get_close_matches(wanted, names, n=n, cutoff=0.6)
    for name in names:
        if len(found) >= n:
            break
        if wanted and wanted in name and name not in found:
            found.append(name)
    return found


def _sqlite_suggestions(url: str) -> list[str]:
    """sqlite:// URLs of the files next to the missing one with close names."""
    parts, _ = parse_url(url)
    path = sqlite_path(parts)
    folder = Path(path).parent
    try:
        names = sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.is_file() and not entry.name.endswith(("-wal", "-shm", "-journal"))
        )
    except OSError:
        return []
    close = close_names(Path(path).name, names)
    if not close:
        close = [n for n in names if n.endswith((".db", ".sqlite", ".sqlite3"))][:3]
    return ["sqlite:///" + str(folder / name) for name in close]


async def open_existing_store(url: str, *, codec: Codec | None = None) -> EventStore:
    """Open the store at ``url``, which must exist: reading or operating on a
    store never creates one. A missing store raises StoreNotFoundError naming
    the URLs of files with close names."""
    try:
        return await open_store(url, codec=codec, create=False)
    except StoreNotFoundError as e:
        hint = ""
        if parse_url(url)[0].scheme.lower() == "sqlite":
            near = await asyncio.to_thread(_sqlite_suggestions, url)
            if near:
                hint = "; did you mean " + " or ".join(f"--store {u}" for u in near) + "?"
        raise StoreNotFoundError(
            f"{e}. Nothing was created; check --store or $EVENTFLUX_STORE{hint}"
        ) from None


@contextmanager
def errors_as_messages() -> Iterator[None]:
    """Turn an eventflux error into a one-line message and exit code 1 (2 for the
    :data:`USAGE_ERRORS`: a missing store or read model, a read model of another
    store, a rebuild that needs ``--force``, bad URLs or options)."""
    try:
        yield
    except USAGE_ERRORS as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(2) from None
    except EventfluxError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn eventflux errors into a message and exit code 1 (2 for
    the :data:`USAGE_ERRORS`)."""
    with errors_as_messages():
        try:
            return asyncio.run(coro)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
