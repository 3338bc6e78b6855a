"""Fault tests of sagas on real processes (marked slow).

Two worker processes run the saga of ``_fault_app.py`` while 500 jobs start;
a worker is SIGKILLed 30 times at random moments and started again. Then
every saga has reached exactly one final outcome, no command was executed
twice (each side effect is recorded once, through an inbox keyed by the
command id, and each job has exactly one of each kind), and every deadline
fired exactly once, after its due time. Run on SQLite files and on
PostgreSQL + NATS.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from tests.servers.nats import NatsServer
from tests.servers.postgres import PostgresServer

from eventflux import NewEvent, open_bus, open_store
from eventflux.sagas import SagaAdmin

HERE = Path(__file__).parent
JOBS = 500
KILLS = 30
WORKERS = 2

sys.path.insert(0, str(HERE))
from _fault_app import results_schema  # noqa: E402


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "eventflux.cli", "worker", "_fault_app:app"],
            cwd=HERE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def _start_jobs(store_url: str, first: int, count: int, rng: random.Random) -> None:
    async with await open_store(store_url) as store:
        for i in range(first, first + count):
            delay = round(rng.uniform(0.2, 3.0), 3)
            await store.append(
                f"job-j{i}", [NewEvent("JobStarted", {"job": f"j{i}", "delay": delay})]
            )


async def _finished(store_url: str) -> int:
    async with await open_store(store_url) as store:
        return len(
            [e async for e in store.read_all(types=["SagaFinished"], stream_prefix="saga-Job-")]
        )


def _run_faults(tmp_path: Path, store_url: str, bus_url: str, within: float) -> None:
    results = tmp_path / "results.db"
    attempts = tmp_path / "attempts.log"
    results_schema(str(results))
    env = {
        **os.environ,
        "EVENTFLUX_STORE": store_url,
        "EVENTFLUX_BUS": bus_url,
        "SAGA_FAULT_RESULTS": str(results),
        "SAGA_FAULT_LOG": str(attempts),
        "EVENTFLUX_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    rng = random.Random(1414)
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    procs = [_spawn(env, logs[i]) for i in range(WORKERS)]
    kills = 0
    try:
        started = 0
        waves = 10
        give_up = time.monotonic() + within
        while kills < KILLS:
            if started < JOBS:
                n = JOBS // waves
                asyncio.run(_start_jobs(store_url, started, n, rng))
                started += n
            time.sleep(rng.uniform(0.2, 0.9))
            victim = rng.randrange(WORKERS)
            procs[victim].kill()  # SIGKILL: no goodbye, leases left behind
            procs[victim].wait()
            kills += 1
            procs[victim] = _spawn(env, logs[victim])
        while started < JOBS:
            asyncio.run(_start_jobs(store_url, started, JOBS // waves, rng))
            started += JOBS // waves
        while asyncio.run(_finished(store_url)) < JOBS:
            assert time.monotonic() < give_up, (
                f"{asyncio.run(_finished(store_url))} of {JOBS} sagas finished; "
                + "\n".join(log.read_text()[-2000:] for log in logs)
            )
            for i, p in enumerate(procs):
                assert p.poll() is None, f"worker {i} died:\n{logs[i].read_text()[-3000:]}"
            time.sleep(0.5)
    finally:
        _stop(procs)
    assert kills == KILLS
    asyncio.run(_check_sagas(store_url, bus_url))
    _check_effects(results, attempts)


async def _check_sagas(store_url: str, bus_url: str) -> None:
    async with await open_store(store_url) as store, await open_bus(bus_url) as bus:
        admin = SagaAdmin(store, bus)
        views = await admin.instances("Job", limit=10 * JOBS)
        assert len(views) == JOBS
        assert Counter(v.outcome for v in views) == {"done": JOBS}
        for view in views:
            history = await admin.history("Job", view.key)
            kinds = [step.input_kind for step in history]
            assert [s.type for s in history].count("SagaFinished") == 1, (view.key, kinds)
            assert history[-1].type == "SagaFinished"
            assert kinds.count("deadline") == 1, (view.key, kinds)  # fired exactly once
            fired = datetime.fromisoformat(view.state["fired_at"])
            assert fired >= datetime.fromisoformat(view.state["timer_due"])  # never early
        assert await bus.dlq.list() == []


def _check_effects(results: Path, attempts: Path) -> None:
    db = sqlite3.connect(results)
    try:
        rows = db.execute("SELECT job, kind, command_id FROM effects").fetchall()
    finally:
        db.close()
    ids = [r[2] for r in rows]
    assert len(ids) == len(set(ids))  # no command executed twice
    per_job = Counter((job, kind) for job, kind, _ in rows)
    assert set(per_job.values()) == {1}
    assert len(per_job) == 3 * JOBS  # step1, step2 and alarm, once each, for every job
    tried = attempts.read_text().splitlines()
    assert len(tried) >= len(rows)
    print(f"{len(tried)} command executions for {len(rows)} effects after {KILLS} kills")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_sagas_survive_sigkilled_workers_on_sqlite(tmp_path: Path) -> None:
    _run_faults(
        tmp_path,
        f"sqlite:///{tmp_path}/events.db",
        f"sqlite:///{tmp_path}/bus.db",
        within=240.0,
    )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.timeout(420)
def test_sagas_survive_sigkilled_workers_on_postgres_and_nats(
    tmp_path: Path, pg_server: PostgresServer, nats_server: NatsServer
) -> None:
    schema = "f_" + uuid.uuid4().hex[:12]
    stream = "F" + uuid.uuid4().hex[:12]
    _run_faults(
        tmp_path,
        pg_server.url() + f"?schema={schema}",
        f"{nats_server.url}?stream={stream}",
        within=240.0,
    )
