"""Fault tests with real processes on the SQLite bus (marked slow).

(a) Four members of a group handle 10,000 messages while members are
SIGKILLed and restarted at least 20 times: the handled set equals the
published set, and with the inbox each side effect happens exactly once.
(b) 1% poison messages: each is tried exactly max_deliver times and lands in
the dead-letter queue; every other message is handled.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventflux.bus import OutgoingMessage, open_bus

from ._procs import count, stderr_of, stop_all, wait_ready

MEMBER = Path(__file__).with_name("_fault_member.py")
TOTAL = 10_000


def _spawn(mode: str, url: str, results: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(stderr_of(log), "ab") as err:  # for a failure's diagnosis (wait_ready)
        return subprocess.Popen(
            [sys.executable, str(MEMBER), mode, url, str(results), str(log)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


async def _publish(url: str, messages: list[OutgoingMessage]) -> list[str]:
    ids: list[str] = []
    async with await open_bus(url) as bus:
        bus.subscribe("work", lambda m: None, group="workers")
        await bus.ready()
        await bus.unsubscribe(bus.subscriptions[0].handler)
        for i in range(0, len(messages), 1000):
            ids += await bus.publish_many(messages[i : i + 1000])
    return ids


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_members_killed_and_restarted_lose_nothing_and_repeat_no_effect(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db?durability=normal"
    results = tmp_path / "results.db"
    with sqlite3.connect(results) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE effects (msg_id TEXT NOT NULL, pid INTEGER)")
    log = tmp_path / "handled.log"
    ids = asyncio.run(_publish(url, [OutgoingMessage("work", {"n": n}) for n in range(TOTAL)]))
    rng = random.Random(42)
    procs = [_spawn("inbox", url, results, log) for _ in range(4)]
    kills = 0
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            time.sleep(0.3)
            done = count(results, "SELECT count(*) FROM effects")
            if done >= TOTAL:
                break
            if done > 200:  # members are up and working: kill one, start a new one
                victim = rng.randrange(len(procs))
                procs[victim].kill()
                procs[victim].wait()
                kills += 1
                procs[victim] = _spawn("inbox", url, results, log)
    finally:
        stop_all(procs)
    assert kills >= 20, f"only {kills} kills happened"
    handled = {line for line in log.read_text().split() if line != "ready"}
    assert handled == set(ids)
    db = sqlite3.connect(results)
    try:
        repeated = db.execute(
            "SELECT msg_id, count(*) FROM effects GROUP BY msg_id HAVING count(*) > 1"
        ).fetchall()
        assert repeated == []
        assert db.execute("SELECT count(DISTINCT msg_id) FROM effects").fetchone()[0] == TOTAL
        assert db.execute("SELECT count(DISTINCT pid) FROM effects").fetchone()[0] > 4
    finally:
        db.close()
    assert count(tmp_path / "bus.db", "SELECT count(*) FROM bus_letters") == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_poison_messages_are_tried_max_deliver_times_and_dead_lettered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db?durability=normal"
    log = tmp_path / "attempts.log"
    rng = random.Random(7)
    poison = set(rng.sample(range(TOTAL), TOTAL // 100))
    messages = [
        OutgoingMessage("work", {"n": n, "poison": n in poison}, msg_id=f"m-{n}")
        for n in range(TOTAL)
    ]
    procs = [_spawn("poison", url, tmp_path / "unused.db", log) for _ in range(4)]
    try:
        wait_ready(log, procs, 30)
        asyncio.run(_publish(url, messages))
        deadline = time.monotonic() + 60
        while True:
            letters = count(tmp_path / "bus.db", "SELECT count(*) FROM bus_letters")
            pending = count(tmp_path / "bus.db", "SELECT count(*) FROM bus_queue")
            if letters >= len(poison) and pending == 0:
                break
            assert time.monotonic() < deadline, f"{letters} letters, {pending} pending"
            time.sleep(0.1)
    finally:
        stop_all(procs)
    attempts: dict[str, list[int]] = {}
    for line in log.read_text().splitlines():
        if line != "ready":
            msg_id, attempt = line.split()
            attempts.setdefault(msg_id, []).append(int(attempt))
    for n in range(TOTAL):
        expected = [1, 2, 3] if n in poison else [1]
        assert sorted(attempts[f"m-{n}"]) == expected, n
    db = sqlite3.connect(tmp_path / "bus.db")
    try:
        letters = db.execute("SELECT msg_id, error, deliveries FROM bus_letters").fetchall()
    finally:
        db.close()
    assert {m for m, _, _ in letters} == {f"m-{n}" for n in poison}
    assert {(e, d) for _, e, d in letters} == {("ValueError: poison", 3)}
    assert os.path.exists(tmp_path / "bus.db")
