"""Fault tests with real member processes on the NATS bus (marked slow).

(a) Four members of a group handle 10,000 messages while members are
SIGKILLed and restarted at least 20 times: the handled set equals the
published set, and with the inbox every side effect happens exactly once.
The keyed variant also checks that each key's effects happened in publish
order although partitions changed owner after every kill.
(b) 1% poison messages: each is tried exactly ``max_deliver`` times and lands
in the dead-letter queue; every other message is handled once.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from tests.servers.nats import NatsServer, nats_server

from eventflux.bus import OutgoingMessage

from ._procs import count, letters, publish, results_db, spawn, stop_all, wait_ready

__all__ = ["nats_server"]

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TOTAL = 10_000


def _url(server: NatsServer) -> str:
    return f"{server.url}?stream=F{uuid.uuid4().hex[:10]}"


def _kill_and_restart(
    url: str, log: Path, results: Path, total: int, min_kills: int, max_kills: int, within: float
) -> int:
    """Run four inbox members until ``total`` effects exist, killing one member
    (SIGKILL) and starting a fresh one every 0.3 s while they work."""
    rng = random.Random(42)
    procs = [spawn("inbox", url, log, results) for _ in range(4)]
    kills = 0
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            time.sleep(0.3)
            done = count(results, "SELECT count(*) FROM effects")
            if done >= total:
                break
            if done > 100 and kills < max_kills:
                victim = rng.randrange(len(procs))
                with open(log.with_suffix(".kills"), "a") as f:
                    f.write(f"{procs[victim].pid} {time.time()}\n")
                procs[victim].kill()
                procs[victim].wait()
                kills += 1
                procs[victim] = spawn("inbox", url, log, results)
    finally:
        stop_all(procs)
    assert kills >= min_kills, f"only {kills} kills happened"
    return kills


def _check_effects(results: Path, log: Path, ids: list[str]) -> sqlite3.Connection:
    handled = {line for line in log.read_text().split() if line != "ready"}
    assert handled == set(ids)
    db = sqlite3.connect(results)
    repeated = db.execute(
        "SELECT msg_id, count(*) FROM effects GROUP BY msg_id HAVING count(*) > 1"
    ).fetchall()
    assert repeated == []
    assert db.execute("SELECT count(DISTINCT msg_id) FROM effects").fetchone()[0] == len(ids)
    assert db.execute("SELECT count(DISTINCT pid) FROM effects").fetchone()[0] > 4
    return db


@pytest.mark.timeout(300)
def test_killed_members_lose_nothing_and_repeat_no_effect(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = _url(nats_server)
    results = results_db(tmp_path / "results.db")
    log = tmp_path / "handled.log"
    ids = publish(url, [OutgoingMessage("work", {"n": n}) for n in range(TOTAL)])
    _kill_and_restart(url, log, results, TOTAL, 20, 1000, 200)
    _check_effects(results, log, ids).close()
    assert letters(url) == []


@pytest.mark.timeout(300)
def test_killed_members_keep_each_keys_order(nats_server: NatsServer, tmp_path: Path) -> None:
    url = _url(nats_server)
    results = results_db(tmp_path / "results.db")
    log = tmp_path / "handled.log"
    total = 3000
    messages = [OutgoingMessage("work", {"n": n}, key=f"k{n % 40}") for n in range(total)]
    ids = publish(url, messages)
    _kill_and_restart(url, log, results, total, 10, 15, 240)
    db = _check_effects(results, log, ids)
    try:
        for k in range(40):
            rows = db.execute(
                "SELECT n FROM effects WHERE k = ? ORDER BY rowid", (f"k{k}",)
            ).fetchall()
            assert [n for (n,) in rows] == list(range(k, total, 40)), f"key k{k} out of order"
    finally:
        db.close()
    assert letters(url) == []


@pytest.mark.timeout(240)
def test_poison_messages_are_tried_max_deliver_times_and_dead_lettered(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    url = _url(nats_server)
    log = tmp_path / "attempts.log"
    rng = random.Random(7)
    poison = set(rng.sample(range(TOTAL), TOTAL // 100))
    messages = [
        OutgoingMessage(
            "work",
            {"n": n, "poison": n in poison},
            msg_id=f"m-{n}",
            key=f"k{n % 97}" if n % 3 == 0 else None,  # a third keyed: retried in the member
        )
        for n in range(TOTAL)
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        publish(url, [], create_group=True)
        procs = [spawn("poison", url, log) for _ in range(4)]
        wait_ready(log, procs)
        publish(url, messages, create_group=False)
        deadline = time.monotonic() + 120
        while True:
            lines = log.read_text().splitlines()
            handled = sum(1 for line in lines if line.endswith(" 1"))
            if handled >= TOTAL and len(letters(url)) >= len(poison):
                break
            assert time.monotonic() < deadline, f"{handled} first deliveries so far"
            time.sleep(0.5)
        time.sleep(0.5)  # nothing more may come
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
    dead = letters(url)
    assert {m for m, _, _ in dead} == {f"m-{n}" for n in poison}
    assert {(e, d) for _, e, d in dead} == {("ValueError: poison", 3)}
