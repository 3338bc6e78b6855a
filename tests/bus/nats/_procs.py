"""Helpers of the NATS fault tests: member processes, publishing, counting."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

from eventflux.bus import OutgoingMessage, open_bus

from .._procs import count, stderr_of, stop_all, wait_ready

__all__ = [
    "count",
    "letters",
    "publish",
    "results_db",
    "spawn",
    "stop_all",
    "wait_ready",
]

MEMBER = Path(__file__).with_name("_member.py")


def spawn(mode: str, url: str, log: Path, results: Path | None = None) -> subprocess.Popen[bytes]:
    """Start one member process (see ``_member.py``)."""
    args = [sys.executable, str(MEMBER), mode, url, str(log)]
    if results is not None:
        args.append(str(results))
    with open(stderr_of(log), "ab") as err:  # for a failure's diagnosis
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def results_db(path: Path) -> Path:
    """A SQLite file with the table the ``inbox`` members write their effects to."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE effects (msg_id TEXT NOT NULL, k TEXT, n INTEGER, pid INTEGER, at REAL)"
        )
    return path


async def _publish(url: str, messages: list[OutgoingMessage], create_group: bool) -> list[str]:
    ids: list[str] = []
    async with await open_bus(url) as bus:
        if create_group:  # the group keeps what is published from now on

            def noop(msg: object) -> None:
                return None

            bus.subscribe("work", noop, group="workers")
            await bus.ready()
            await bus.unsubscribe(noop)
        for i in range(0, len(messages), 1000):
            ids += await bus.publish_many(messages[i : i + 1000])
    return ids


def publish(url: str, messages: list[OutgoingMessage], *, create_group: bool = True) -> list[str]:
    """Publish ``messages`` (creating the group ``workers`` first); return their ids."""
    return asyncio.run(_publish(url, messages, create_group))


async def _letters(url: str) -> list[tuple[str, str, int]]:
    async with await open_bus(url) as bus:
        return [(x.msg_id, x.error, x.deliveries) for x in await bus.dlq.list()]


def letters(url: str) -> list[tuple[str, str, int]]:
    """``(msg_id, error, deliveries)`` of every dead letter of the bus."""
    return asyncio.run(_letters(url))
