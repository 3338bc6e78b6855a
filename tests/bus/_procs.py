"""Helpers of the bus fault tests with member processes (SQLite and NATS):
waiting for the members, stopping them, counting rows of a SQLite file.

A member writes ``ready`` to its log once it consumes, and its stderr goes to
the log's ``.stderr`` file next to it, where :func:`wait_ready` reads it when
a member exits before it is ready.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path


def stderr_of(log: Path) -> Path:
    """Where the members writing ``log`` send their stderr."""
    return log.with_suffix(".stderr")


def wait_ready(log: Path, procs: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> None:
    """Wait until every member of ``procs`` wrote ``ready`` to ``log``; fail at
    once, with the members' stderr, if one of them exited instead."""
    deadline = time.monotonic() + timeout
    while (log.read_text().count("ready") if log.exists() else 0) < len(procs):
        exited = [p.returncode for p in procs if p.poll() is not None]
        if exited or time.monotonic() > deadline:
            errors = stderr_of(log)
            printed = errors.read_text()[-3000:] if errors.exists() else ""
            raise AssertionError(f"the members did not start (exit codes {exited}):\n{printed}")
        time.sleep(0.05)


def stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """SIGTERM every member (a graceful close), SIGKILL those that linger."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def count(db_path: Path, sql: str) -> int:
    """The one integer ``sql`` selects from the SQLite file ``db_path``."""
    db = sqlite3.connect(db_path, timeout=10)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()
