"""The reactions of one saga class: load the instance, run the handler, commit
what it decided as one event, then send and publish.

The reactor is the handler of the saga's consumer group. A delivery that
raises commits nothing and is retried by the bus with backoff, then
dead-lettered. An input handled before (its id is in the instance's
history) changes nothing: the commands and messages of its reaction are sent
again with their recorded ids (a crash may have come between the commit and
the sends), and receivers recognise them by id.

Example::

    reactor = Reactor(Fulfilment, store, bus, app, SystemClock())
    bus.subscribe(saga_subject("Fulfilment"), reactor.on_saga_message, group="saga-Fulfilment")
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ..bus import Message, MessageBus, matches
from ..codec import dumps, loads
from ..context import ACTOR, CAUSATION_ID, CORRELATION_ID
from ..events import NewEvent, RecordedEvent, uuid7
from ..exceptions import ConcurrencyError
from ..signals import Reject
from ..store import EventStore
from .clock import Clock
from .errors import SagaError, SagaKeyError
from .inputs import (
    CANCEL,
    DEADLINE,
    EVENT,
    MESSAGE,
    Input,
    message_correlation,
    recorded_event,
    saga_subject,
)
from .memory import Instances, after
from .outbox import CommandSender, Outbox
from .records import FINISHED, REACTED, STARTED, Deadline, Instance, derived_id, key_token
from .routes import Route
from .saga import Reaction, Saga

__all__ = ["Reactor", "instance_key"]

#: Reloads and re-runs of one input after a concurrent commit, before giving up
#: (the bus then retries the delivery with backoff).
_MAX_CONFLICTS: Final = 50
#: How far ahead of this process's clock a due deadline may be and still be
#: waited for (clocks of two machines disagree a little).
_MAX_EARLY: Final = 5.0
#: Overdue deadlines fired before one input (a timeout that keeps setting
#: itself to the past cannot loop forever).
_MAX_OVERDUE: Final = 100


def instance_key(route: Route, payload: object) -> str:
    """The instance key ``route`` gives ``payload``; a key function that
    raises or returns anything but a non-empty str is a :class:`SagaKeyError`."""
    try:
        key = route.key(payload)
    except Exception as e:
        raise SagaKeyError(
            f"the key function of {route.method!r} failed on {route.source}: "
            f"{type(e).__name__}: {e}"
        ) from e
    if not isinstance(key, str) or not key:
        raise SagaKeyError(
            f"the key function of {route.method!r} returned {key!r}; a key is a non-empty str"
        )
    return key


async def _call(fn: Any, *args: Any) -> None:
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


class Reactor:
    """Runs the reactions of one saga class on a store, a bus and an App."""

    def __init__(
        self,
        cls: type[Saga],
        store: EventStore,
        bus: MessageBus,
        app: CommandSender,
        clock: Clock,
        log: Any,
    ) -> None:
        self.cls = cls
        self.name = cls.name
        self.routes = cls.routes
        self.store = store
        self.bus = bus
        self.app = app
        self.clock = clock
        self.log = log.bind(saga=self.name)
        self.outbox = Outbox(app, bus)
        self.instances = Instances(self.name, store)

    def can_send(self, command_type: type[Any]) -> bool:
        """True if the App has a handler for ``command_type`` (or a base of it)."""
        return self.outbox.can_send(command_type)

    async def load(self, key: str, *, fresh: bool = False) -> Instance:
        """The instance ``key`` (see :class:`~eventflux.sagas.memory.Instances`)."""
        return await self.instances.load(key, fresh=fresh)

    # -- turning deliveries into inputs ---------------------------------------------------
    async def deliver(self, msg: Message) -> None:
        """Handle one delivery of any of the saga's subjects (what the bus does;
        tests use it to deliver a message a second time)."""
        if msg.subject == saga_subject(self.name):
            await self.on_saga_message(msg)
            return
        for pattern, route in self.routes.by_subject.items():
            if matches(pattern, msg.subject):
                await self.message_handler(route)(msg)
                return
        raise Reject(f"saga {self.name!r} has no route for subject {msg.subject!r}")

    async def on_saga_message(self, msg: Message) -> None:
        """The handler of the saga's own subject: relayed events, due deadlines,
        cancellations."""
        body = msg.data
        kind = body.get("k") if isinstance(body, Mapping) else None
        if kind == EVENT:
            inp = await self._event_input(body)
        elif kind == DEADLINE:
            inp = Input(
                DEADLINE,
                f"deadline:{body['name']}:{body['seq']}",
                str(body["key"]),
                datetime.fromisoformat(body["due"]),
                str(body["name"]),
                seq=int(body["seq"]),
            )
        elif kind == CANCEL:
            inp = Input(
                CANCEL,
                f"cancel:{msg.msg_id}",
                str(body["key"]),
                msg.published_at,
                str(body.get("reason") or "cancelled"),
                correlation_id=msg.headers.get(CORRELATION_ID),
                actor=msg.headers.get(ACTOR),
                outcome=str(body.get("outcome") or "cancelled"),
            )
        else:
            raise Reject(f"not a saga input: {body!r:.200}")
        if inp is not None:
            await self.react(inp)

    async def _event_input(self, body: Mapping[str, Any]) -> Input | None:
        if body.get("key_error"):
            raise Reject(str(body["key_error"]))
        doc = body["event"]
        event: RecordedEvent | None = None
        if doc.get("registered"):  # an event class: read it back, decoded by the store's codec
            async for e in self.store.read(doc["stream"], from_version=doc["version"], limit=1):
                event = e
            if event is None:
                self.log.warning("saga input event gone", stream=doc["stream"], id=doc["id"])
                return None
        else:
            event = recorded_event(doc)
        route = self.routes.by_type.get(event.type)
        if route is None:
            return None  # the saga no longer listens to this type
        return Input(
            EVENT,
            f"event:{event.id}",
            str(body["key"]),
            event.recorded_at,
            event.type,
            event,
            route,
            correlation_id=event.correlation_id,
            actor=_text(event.metadata.get(ACTOR)),
        )

    def message_handler(self, route: Route) -> Any:
        """The bus handler of a ``subject=`` route."""

        async def on_message(msg: Message) -> None:
            try:
                key = instance_key(route, msg)
            except SagaKeyError as e:
                raise Reject(str(e)) from e
            await self.react(
                Input(
                    MESSAGE,
                    f"msg:{msg.msg_id}",
                    key,
                    msg.published_at,
                    msg.subject,
                    msg,
                    route,
                    correlation_id=message_correlation(msg),
                    actor=msg.headers.get(ACTOR),
                )
            )

        on_message.__qualname__ = f"{self.name}.{route.method}"
        return on_message

    # -- reacting ---------------------------------------------------------------------------
    async def react(self, inp: Input) -> None:
        """React to ``inp`` once: reload and re-run on a concurrent commit;
        deadlines that fell due before an event or message fire first."""
        fired = 0
        conflicts = 0
        fresh = False
        while True:
            starting = inp.route is not None and inp.route.starts
            inst = await self.instances.load(inp.key, fresh=fresh, new=starting)
            if (
                inp.kind in (EVENT, MESSAGE)
                and inst.exists
                and not inst.finished
                and inp.id not in inst.handled
                and fired < _MAX_OVERDUE
            ):
                limit = min(inp.at, self.clock.now())
                overdue = sorted(
                    (d.due, name, d.seq) for name, d in inst.deadlines.items() if d.due <= limit
                )
                if overdue:
                    due, name, seq = overdue[0]
                    fired += 1
                    await self.react(
                        Input(DEADLINE, f"deadline:{name}:{seq}", inp.key, due, name, seq=seq)
                    )
                    continue
            try:
                if await self._react_on(inst, inp) or fresh:
                    return
                fresh = True  # decided on what this process remembered: read the stream
            except ConcurrencyError:
                fresh = True
                conflicts += 1
                if conflicts >= _MAX_CONFLICTS:
                    raise SagaError(
                        f"saga {self.name!r} instance {inp.key!r}: {conflicts} concurrent "
                        "commits in a row; the delivery will be retried"
                    ) from None
                await asyncio.sleep(random.uniform(0.0005, 0.002 * conflicts))

    async def _react_on(self, inst: Instance, inp: Input) -> bool:
        """React on ``inst`` as loaded; False when it found nothing to do in a
        way a stale copy of the instance could explain."""
        done = inst.handled.get(inp.id)
        if done is not None:  # handled before: send what it sent again (same ids)
            await self.outbox.deliver(
                inst.event_ids[inp.id],
                done.get("out") or [],
                [],
                done.get("correlation_id"),
                done.get("actor"),
            )
            return True
        if not inst.exists:
            if inp.route is None or not inp.route.starts:
                return True  # no instance: only a starting input creates one
        elif inst.finished:
            return True  # a finished instance ignores later inputs
        now = self.clock.now()
        if inp.kind == DEADLINE:
            pending = inst.deadlines.get(inp.name)
            if pending is None or pending.seq != inp.seq:
                return False  # cancelled, rescheduled or fired already (or seen stale)
            if now < pending.due:
                early = (pending.due - now).total_seconds()
                if early > _MAX_EARLY:
                    raise SagaError(
                        f"deadline {inp.name!r} of {self.name!r} {inp.key!r} is not due for "
                        f"{early:.1f} s; the clocks of the processes disagree"
                    )
                await self.clock.sleep_until(pending.due)
                now = self.clock.now()
        started = time.perf_counter()
        reaction = Reaction(
            now,
            self.routes.timeouts,
            self.can_send,
            deadlines=dict(inst.deadlines),
            compensations=list(inst.compensations),
        )
        saga = self.cls.__new__(self.cls)
        Saga.__init__(
            saga,
            inst.key,
            loads(dumps(inst.state, what="saga state")),  # the handler's own copy
            reaction=reaction,
            correlation_id=inst.correlation_id or inp.correlation_id,
        )
        await self._run_handler(saga, reaction, inp)
        await self._commit(inst, inp, saga, reaction, started)
        return True

    async def _run_handler(self, saga: Saga, reaction: Reaction, inp: Input) -> None:
        if inp.kind == DEADLINE:
            reaction.deadlines.pop(inp.name, None)
            method = self.routes.timeouts.get(inp.name)
            if method is None:
                self.log.warning("saga deadline without @timeout method", deadline=inp.name)
                return
            await _call(getattr(saga, method))
        elif inp.kind == CANCEL:
            await _call(saga.on_cancel, inp.name)
            if not reaction.finished:
                saga.finish(inp.outcome or "cancelled", compensate=True)
        else:
            assert inp.route is not None
            await _call(getattr(saga, inp.route.method), inp.payload)

    async def _commit(
        self, inst: Instance, inp: Input, saga: Saga, reaction: Reaction, started: float
    ) -> None:
        if not isinstance(saga.state, dict):
            raise TypeError(
                f"saga {self.name}: self.state must stay a dict, not {type(saga.state).__name__}"
            )
        version = inst.version + 1
        token = key_token(inst.key)
        deadlines = (
            {}
            if reaction.finished
            else {
                name: d if d.seq else Deadline(d.due, version)
                for name, d in reaction.deadlines.items()
            }
        )
        out: list[dict[str, Any]] = []
        originals: list[object | None] = []
        for i, o in enumerate(reaction.outgoing):
            out_id = str(derived_id(self.name, token, inp.id, i))
            out.append({"kind": o.kind, "id": out_id, **o.doc})
            originals.append(o.command)
        correlation = inp.correlation_id or inst.correlation_id
        actor = inp.actor or inst.actor
        data: dict[str, Any] = {
            "saga": self.name,
            "key": inst.key,
            "input": self._describe(inp),
            "state": saga.state,
            "out": out,
            "deadlines": {name: d.as_dict() for name, d in deadlines.items()},
            "compensations": [] if reaction.finished else reaction.compensations,
            "finished": reaction.finished,
        }
        # absent rather than null: JSON without nulls takes the store's fast path
        for name, value in (
            ("outcome", reaction.outcome),
            ("correlation_id", inst.correlation_id or correlation),
            ("actor", actor),
        ):
            if value is not None:
                data[name] = value
        kind = STARTED if not inst.exists else FINISHED if reaction.finished else REACTED
        # A fresh id: an append that succeeds is this reaction's (an equal id
        # would make a stored batch look like a retry of this one).
        event_id = uuid7()
        metadata: dict[str, Any] = {CAUSATION_ID: _cause(inp)}
        if correlation is not None:
            metadata[CORRELATION_ID] = correlation
        if actor is not None:
            metadata[ACTOR] = actor
        try:
            await self.store.append(
                inst.stream,
                [NewEvent(kind, data, metadata=metadata, id=event_id)],
                expected_version=inst.version,
            )
        except BaseException:
            self.instances.forget(inst.key)  # read it again next time
            raise
        data["state"] = loads(dumps(saga.state, what="saga state"))  # as a reload would see it
        self.instances.remember(after(inst, version, data, deadlines, event_id))
        self.log.info(
            "saga step",
            key=inst.key,
            input=inp.kind,
            name=inp.name,
            handler=inp.route.method if inp.route is not None else None,
            version=version,
            sends=sum(1 for o in out if o["kind"] == "send"),
            publishes=sum(1 for o in out if o["kind"] == "publish"),
            deadlines=sorted(deadlines),
            finished=reaction.finished,
            outcome=reaction.outcome,
            correlation_id=correlation,
            causation_id=metadata[CAUSATION_ID],
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        await self.outbox.deliver(event_id, out, originals, correlation, actor)

    def _describe(self, inp: Input) -> dict[str, Any]:
        doc = inp.describe()
        if inp.kind == DEADLINE:
            doc["handler"] = self.routes.timeouts.get(inp.name)
        elif inp.kind == CANCEL:
            doc["handler"] = "on_cancel"
        return doc


def _cause(inp: Input) -> str:
    """What caused a reaction: the event's or message's id, else the input id."""
    if inp.kind in (EVENT, MESSAGE, CANCEL):
        return inp.id.partition(":")[2]
    return inp.id


def _text(value: object) -> str | None:
    return None if value is None else str(value)
