"""Helpers of the NATS fault tests: member processes, publishing, counting."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from eventflux.bus import OutgoingMessage, open_bus

MEMBER = Path(__file__).with_name("_member.py")


def spawn(mode: str, url: str, log: Path, results: Path | None = None) -> subprocess.Popen[bytes]:
    """Start one member process (see ``_member.py``)."""
    args = [sys.executable, str(MEMBER), mode, url, str(log)]
    if results is not None:
        args.append(str(results))
    with open(log.with_suffix(".stderr"), "ab") as err:  # warnings, for a failure's diagnosis
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every member (a graceful close), SIGKILL those that linger."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_ready(log: Path, count: int, timeout: float = 60.0) -> None:
    """Wait until ``count`` members wrote ``ready`` to the log."""
    deadline = time.monotonic() + timeout
    while not log.exists() or log.read_text().count("ready") < count:
        assert time.monotonic() < deadline, "the members did not start"
        time.sleep(0.05)


def count(db_path: Path, sql: str) -> int:
    db = sqlite3.connect(db_path, timeout=10)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


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
