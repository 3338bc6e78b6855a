"""Run a projection in its own process.

From code::

    await run_projection("shop-catalog", "sqlite:///shop-events.db")

From a shell (the same as ``eventflux projections run``)::

    python -m eventflux.cqrs shop-catalog --store sqlite:///shop-events.db

The runner catches up, then follows the store until SIGTERM or SIGINT; the
batch in progress is then rolled back whole, and the next run resumes from
the committed checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence

from ..codec import Codec
from ..exceptions import EventfluxError
from ..store import open_store
from .projections import Projection
from .registry import ProjectionFactory, load_apps, projection_entry

__all__ = ["main", "run_projection"]


async def run_projection(
    projection: Projection | ProjectionFactory | str,
    store_url: str,
    *,
    codec: Codec | None = None,
) -> None:
    """Run ``projection`` (an instance, a factory of the store URL, or a registered
    name) against the store at ``store_url`` until cancelled or signalled.

    ``codec`` decodes the events (default: the registered one for a name, else
    the default codec).
    """
    if isinstance(projection, str):
        entry = projection_entry(projection)
        codec = codec or entry.codec
        projection = entry.factory(store_url)
    elif not isinstance(projection, Projection):
        projection = projection(store_url)
    async with await open_store(store_url, codec=codec) as store:
        task = asyncio.create_task(projection.run(store))
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        handled = threading.current_thread() is threading.main_thread()
        if handled:
            for sig in signals:
                loop.add_signal_handler(sig, task.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            if handled:
                for sig in signals:
                    loop.remove_signal_handler(sig)
            await projection.model.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: ``NAME --store URL [--app MODULE ...]``."""
    parser = argparse.ArgumentParser(prog="python -m eventflux.cqrs")
    parser.add_argument("name", help="registered projection name")
    parser.add_argument("--store", required=True, help="event store URL")
    parser.add_argument("--app", action="append", default=[], help="module registering it")
    args = parser.parse_args(argv)
    try:
        load_apps(args.app)
        asyncio.run(run_projection(args.name, args.store))
    except EventfluxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
