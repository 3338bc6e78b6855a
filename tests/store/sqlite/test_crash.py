"""Crash test: SIGKILL a process that appends, 20 times; nothing acknowledged is lost."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("_append_child.py")
ROUNDS = 20


def _acks(output: str) -> list[tuple[str, str, int]]:
    acks = []
    for line in output.splitlines(keepends=True):
        if not line.endswith("\n"):  # cut off by the kill: not acknowledged to anyone
            continue
        event_id, stream, version = line.split()
        acks.append((event_id, stream, int(version)))
    return acks


def _check_file(path: Path, acked: dict[str, tuple[str, int]]) -> int:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(
            "SELECT hex(id), stream, version, position FROM eventflux_events ORDER BY position"
        ).fetchall()
        ids = [r[0].lower() for r in rows]
        assert len(ids) == len(set(ids)), "an event is stored twice"
        stored = {r[0].lower(): (r[1], r[2]) for r in rows}
        for event_id, where in acked.items():
            assert stored.get(event_id.replace("-", "")) == where, f"acknowledged {event_id} lost"
        by_stream: dict[str, list[int]] = {}
        for _, stream, version, _ in rows:
            by_stream.setdefault(stream, []).append(version)
        heads = dict(conn.execute("SELECT name, version FROM eventflux_streams").fetchall())
        for stream, versions in by_stream.items():
            assert versions == list(range(1, len(versions) + 1)), f"gap in {stream}"
            assert heads[stream] == len(versions)
        positions = [r[3] for r in rows]
        assert positions == sorted(set(positions))
        return len(rows)
    finally:
        conn.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    rng = random.Random(20240607)
    acked: dict[str, tuple[str, int]] = {}
    total = 0
    for round_ in range(ROUNDS):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), url, "crash", str(round_)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # the child is appending now
        assert first.endswith("\n"), "the child did not start appending"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.stdout.close()
        assert child.wait(10) == -signal.SIGKILL
        for event_id, stream, version in _acks(first + rest):
            assert event_id not in acked
            acked[event_id] = (stream, version)
        count = _check_file(db, acked)
        assert count >= total  # nothing that was there before went away
        total = count
    assert len(acked) > ROUNDS
