"""``eventflux audit CORRELATION_ID``: the causal chain of one request.

Prints every command, event and message of the correlation id in causation
order (the root first) as a table, as JSON (``--json``) or as a Mermaid
sequence diagram (``--mermaid``). ``--app module:app`` (repeatable) names the
Apps whose relays map events to subjects.

Example::

    eventflux audit 0190c2d4-...-7f3a --store sqlite:///shop.db --mermaid
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ..app import App
from ..events import RecordedEvent
from ..observability.trace import Trace, trace
from ._common import StoreOption, console, open_existing_store, run, store_url
from .worker import load_target

__all__ = ["register"]


def _subject_of(apps: list[App]) -> Any:
    def subject_of(event: RecordedEvent) -> str | None:
        for app in apps:
            subject = app.subject_of(event)
            if subject is not None:
                return subject
        return None

    return subject_of


async def _trace(url: str, correlation_id: str, apps: list[App]) -> Trace:
    store = await open_existing_store(url)
    async with store:
        return await trace(store, correlation_id, subject_of=_subject_of(apps))


def _table(chain: Trace) -> Table:
    table = Table(title=f"correlation {chain.correlation_id}: {len(chain.nodes)} hop(s)")
    for column in ("#", "kind", "name", "stream", "position", "recorded at (UTC)", "actor", "id"):
        table.add_column(column, overflow="fold")
    depth: dict[str, int] = {}
    for i, node in enumerate(chain.nodes, 1):
        level = depth.get(node.parent or "", -1) + 1
        depth[node.key] = level
        table.add_row(
            str(i),
            node.kind,
            escape("  " * level + node.name),
            escape(node.stream or ""),
            "" if node.position is None else str(node.position),
            node.at.strftime("%Y-%m-%d %H:%M:%S.%f") if node.at else "",
            escape(node.actor or ""),
            node.id,
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``audit`` to the command line."""

    @app.command()
    def audit(
        correlation_id: Annotated[str, typer.Argument(help="The correlation id to follow.")],
        store: StoreOption = None,
        mermaid: Annotated[
            bool, typer.Option("--mermaid", help="Print a Mermaid sequence diagram.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the chain as JSON.")] = False,
        apps: Annotated[
            list[str] | None,
            typer.Option("--app", help="module:app whose relays name the subjects (repeatable)."),
        ] = None,
    ) -> None:
        """Print the causal chain of a correlation id, ordered by causation."""
        loaded = [load_target(name) for name in apps or []]
        for name, obj in zip(apps or [], loaded, strict=True):
            if not isinstance(obj, App):
                raise typer.BadParameter(f"{name!r} is not an eventflux.App")
        chain = run(_trace(store_url(store), correlation_id, loaded))
        if not chain.nodes:
            console.print(f"no events carry the correlation id {correlation_id!r}")
            raise typer.Exit(1)
        if mermaid:
            sys.stdout.write(chain.mermaid() + "\n")
        elif as_json:
            sys.stdout.write(orjson.dumps(chain.as_dict()).decode() + "\n")
        else:
            console.print(_table(chain))
