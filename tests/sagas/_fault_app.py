"""The App of the saga fault tests, run by ``eventflux worker _fault_app:app``
in the worker processes that the tests SIGKILL (not collected by pytest).

Each job is a saga that sends ``Step1`` (whose handler records ``Step1Done``),
then ``Step2``, and sets a deadline ``timer`` whose timeout sends ``Alarm``;
it finishes once step 2 is done and the timer has fired. Every command's side
effect is recorded through a SQLite inbox keyed by the command id, in the
results database named by ``$SAGA_FAULT_RESULTS``: a command delivered again
is recognised, and a command sent twice under two ids would show as two rows.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass

from eventflux import App, Context, NewEvent, RecordedEvent
from eventflux.resilience import SQLiteInbox
from eventflux.sagas import Saga, handles, starts, timeout
from eventflux.signals import AlreadyHandled

NAMESPACE = uuid.UUID("0d7b8a52-7d7e-4b43-9d55-3c7f1bb0f1a1")


@dataclass(frozen=True)
class Step1:
    job: str


@dataclass(frozen=True)
class Step2:
    job: str


@dataclass(frozen=True)
class Alarm:
    job: str


@dataclass(frozen=True)
class _Command:
    msg_id: str
    group: str = "effects"


def results_schema(path: str) -> None:
    """Create the results database (the test calls it before the workers start)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS effects "
            "(job TEXT NOT NULL, kind TEXT NOT NULL, command_id TEXT NOT NULL, pid INTEGER)"
        )


_inbox: SQLiteInbox | None = None


def inbox() -> SQLiteInbox:
    global _inbox
    if _inbox is None:
        _inbox = SQLiteInbox(os.environ["SAGA_FAULT_RESULTS"])
        _inbox.connection.execute("PRAGMA synchronous=NORMAL")
    return _inbox


app = App("faults")
_log_fd: int | None = None


def _attempt(line: str) -> None:
    """Log every execution attempt (deduplicated or not) to ``$SAGA_FAULT_LOG``."""
    global _log_fd
    if _log_fd is None:
        _log_fd = os.open(os.environ["SAGA_FAULT_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(_log_fd, line.encode())


async def _effect(kind: str, job: str, ctx: Context, then: str | None) -> None:
    command_id = str(ctx.causation_id)
    _attempt(f"{kind} {command_id}\n")
    try:
        async with inbox().transaction(_Command(command_id)) as db:
            db.execute(
                "INSERT INTO effects (job, kind, command_id, pid) VALUES (?, ?, ?, ?)",
                (job, kind, command_id, os.getpid()),
            )
    except AlreadyHandled:
        pass  # executed before (the reply below may still be missing)
    if then is not None:
        event = NewEvent(then, {"job": job}, id=uuid.uuid5(NAMESPACE, command_id))
        await ctx.store.append(f"job-{job}", [event])


@app.command(Step1)
async def step1(cmd: Step1, ctx: Context) -> None:
    await _effect("step1", cmd.job, ctx, "Step1Done")


@app.command(Step2)
async def step2(cmd: Step2, ctx: Context) -> None:
    await _effect("step2", cmd.job, ctx, "Step2Done")


@app.command(Alarm)
async def alarm(cmd: Alarm, ctx: Context) -> None:
    await _effect("alarm", cmd.job, ctx, None)


def job_of(e: RecordedEvent) -> str:
    return str(e.data["job"])


class Job(Saga):
    ack_wait = 2.0  # a killed worker's leases come back quickly
    max_deliver = 50  # deliveries cut short by a kill count too
    backoff = (0.01, 0.2)

    @starts("JobStarted", key=job_of)
    async def started(self, e: RecordedEvent) -> None:
        due = self.deadline(float(e.data["delay"]), "timer")
        self.state.update(stage=1, fired=False, done2=False, timer_due=due.isoformat())
        self.send(Step1(self.key))

    @handles("Step1Done", key=job_of)
    async def one(self, e: RecordedEvent) -> None:
        self.state["stage"] = 2
        self.send(Step2(self.key))

    @handles("Step2Done", key=job_of)
    async def two(self, e: RecordedEvent) -> None:
        self.state["done2"] = True
        if self.state["fired"]:
            self.finish("done")

    @timeout("timer")
    async def timer(self) -> None:
        self.state["fired"] = True
        self.state["fired_at"] = self.now.isoformat()
        self.send(Alarm(self.key))
        if self.state["done2"]:
            self.finish("done")


app.saga(Job)
