"""The sagas of one App: registration, and the runtime that runs them while
the App runs (``app.sagas``).

For each registered saga class the runtime subscribes a consumer in the
group ``saga-{Name}`` (on the saga's own subject, and on the subjects of its
``subject=`` routes) and starts a feeder that relays the store events it
routes and publishes its deadlines when they are due. N processes running the
App share the instances' work through the group.

Example::

    app.saga(Fulfilment)
    app.sagas.clock = ManualClock()          # tests: deadlines fire when the clock moves
    async with app.running():
        view = await app.saga_instance(Fulfilment, "o-1")
        await app.sagas.reschedule(Fulfilment, "o-1", "pay", timedelta(hours=1))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..bus import MessageBus
from ..exceptions import AppNotRunningError, ConfigurationError
from ..store import EventStore
from .admin import SagaAdmin, SagaRef, saga_name
from .clock import Clock, SystemClock
from .feeder import Feeder
from .inputs import saga_group, saga_subject
from .reactor import Reactor
from .records import validate_saga_name
from .saga import Saga
from .views import PendingDeadline, SagaStep, SagaView

__all__ = ["SagaApp", "Sagas"]

S = TypeVar("S", bound=type[Saga])


class SagaApp(Protocol):
    """What the saga runtime needs of its App."""

    name: str
    log: Any

    @property
    def command_types(self) -> tuple[type[Any], ...]: ...

    async def dispatch(
        self,
        command: object,
        metadata: Mapping[str, Any] | None = None,
        *,
        command_id: str | None = None,
    ) -> Any: ...


@dataclass
class _Running:
    store: EventStore
    bus: MessageBus
    reactors: dict[str, Reactor] = field(default_factory=dict)
    feeders: dict[str, Feeder] = field(default_factory=dict)
    handlers: list[Callable[..., Any]] = field(default_factory=list)


class Sagas:
    """The saga classes of an App and, while it runs, their runtime.

    ``clock`` (default: the system clock) is read when reactions start and
    decides when deadlines are due; set a :class:`ManualClock` in tests
    before the App starts.
    """

    def __init__(self, app: SagaApp) -> None:
        self._app = app
        self._classes: dict[str, type[Saga]] = {}
        self.clock: Clock = SystemClock()
        self._running: _Running | None = None

    # -- registration ----------------------------------------------------------------------
    def register(self, cls: S) -> S:
        """Register a saga class (its name must be unique in the App)."""
        if not (isinstance(cls, type) and issubclass(cls, Saga)) or cls is Saga:
            raise TypeError(f"app.saga takes a Saga subclass, not {cls!r}")
        name = validate_saga_name(cls.name)
        if cls.routes.empty:
            raise ConfigurationError(
                f"saga {name}: no @starts or @handles method, so nothing would start it"
            )
        routes = (*cls.routes.by_type.values(), *cls.routes.by_subject.values())
        if not any(r.starts for r in routes):
            raise ConfigurationError(f"saga {name}: no @starts method, so no instance can begin")
        old = self._classes.get(name)
        if old is not None and old is not cls:
            raise ConfigurationError(
                f"App {self._app.name!r} already has a saga named {name!r} ({old!r})"
            )
        self._classes[name] = cls
        if self._running is not None:
            self._start_one(cls, self._running)
        return cls

    @property
    def classes(self) -> tuple[type[Saga], ...]:
        """The registered saga classes, in registration order."""
        return tuple(self._classes.values())

    def __contains__(self, saga: object) -> bool:
        if isinstance(saga, str):
            return saga in self._classes
        return any(c is saga for c in self._classes.values())

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running is not None

    def _state(self) -> _Running:
        if self._running is None:
            raise AppNotRunningError(
                f"App {self._app.name!r} is not running; use 'async with app.running():'"
            )
        return self._running

    async def start(self, store: EventStore, bus: MessageBus) -> None:
        """Subscribe every saga's consumers and start its feeder (the App calls it)."""
        if self._running is not None:
            raise ConfigurationError("the sagas are already running")
        state = _Running(store, bus)
        self._running = state
        starting = [self._start_one(cls, state) for cls in self._classes.values()]
        if starting:
            await asyncio.gather(*starting)

    def _start_one(self, cls: type[Saga], state: _Running) -> asyncio.Future[None]:
        log = self._app.log
        reactor = Reactor(cls, state.store, state.bus, self._app, self.clock, log)

        def subscribe(pattern: str, handler: Callable[..., Any]) -> None:
            state.bus.subscribe(
                pattern,
                handler,
                group=saga_group(cls.name),
                max_deliver=cls.max_deliver,
                backoff=cls.backoff,
                concurrency=cls.concurrency,
                ack_wait=cls.ack_wait,
            )
            state.handlers.append(handler)

        subscribe(saga_subject(cls.name), reactor.on_saga_message)
        for pattern, route in cls.routes.by_subject.items():
            subscribe(pattern, reactor.message_handler(route))
        state.reactors[cls.name] = reactor
        feeder = Feeder(cls, state.store, state.bus, self.clock, log)
        state.feeders[cls.name] = feeder

        async def start_feeder() -> None:
            await state.bus.ready()
            await feeder.start()
            for task in feeder.tasks:
                task.add_done_callback(self._report)

        return asyncio.ensure_future(start_feeder())

    def _report(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self._app.log.error(
                "saga feeder stopped",
                task=task.get_name(),
                error=f"{type(error).__name__}: {error}",
            )

    async def stop(self) -> None:
        """Stop the feeders, then drain the consumers (the App calls it)."""
        state = self._running
        if state is None:
            return
        try:
            for feeder in state.feeders.values():
                await feeder.stop()
            if state.handlers:  # drained together: each may wait out a fetch
                await asyncio.gather(*(state.bus.unsubscribe(h) for h in state.handlers))
        finally:
            self._running = None

    async def settle(self, within: float = 30.0) -> None:
        """Wait until the sagas have nothing left to do now: every routed event
        relayed and reacted to, every due deadline fired, no delivery pending
        or running in their groups (tests and scripts; raises TimeoutError
        after ``within`` seconds).

        Example::

            clock.advance(timedelta(minutes=15))
            await app.sagas.settle()
        """
        state = self._state()
        groups = {saga_group(name) for name in state.feeders}
        give_up = time.monotonic() + within
        calm = 0
        while calm < 2:  # quiet twice in a row: nothing was between two stages
            quiet = all([await f.idle() for f in state.feeders.values()])
            if quiet:
                for info in await state.bus.groups():
                    if info.name in groups and (info.pending or info.in_flight):
                        quiet = False
                        break
            calm = calm + 1 if quiet else 0
            if time.monotonic() > give_up:
                raise TimeoutError(f"the sagas were still busy after {within:g} s")
            await asyncio.sleep(0.005 if quiet else 0.01)

    def feeder(self, saga: SagaRef) -> Feeder:
        """The running feeder of ``saga`` (its counters help tests and benchmarks)."""
        return self._state().feeders[saga_name(saga)]

    def reactor(self, saga: SagaRef) -> Reactor:
        """The running reactor of ``saga``."""
        return self._state().reactors[saga_name(saga)]

    # -- instances and deadlines -------------------------------------------------------------
    @property
    def admin(self) -> SagaAdmin:
        """A :class:`SagaAdmin` on the App's store and bus, with the App's clock."""
        state = self._state()
        return SagaAdmin(state.store, state.bus, clock=self.clock)

    async def instance(self, saga: SagaRef, key: str) -> SagaView | None:
        """The instance ``key`` of ``saga``, or None."""
        return await self.admin.instance(saga, key)

    async def instances(
        self, saga: SagaRef | None = None, *, state: str | None = None, limit: int = 100
    ) -> list[SagaView]:
        """Instances by saga and state (``"open"``, ``"finished"`` or an outcome)."""
        return await self.admin.instances(saga, state=state, limit=limit)

    async def history(self, saga: SagaRef, key: str) -> list[SagaStep]:
        """The reactions of one instance, oldest first."""
        return await self.admin.history(saga, key)

    async def deadlines(
        self, saga: SagaRef | None = None, *, key: str | None = None
    ) -> list[PendingDeadline]:
        """Pending deadlines, soonest first."""
        return await self.admin.deadlines(saga, key=key)

    async def cancel_deadline(self, saga: SagaRef, key: str, name: str) -> SagaView:
        """Cancel a pending deadline: it never fires."""
        return await self.admin.cancel_deadline(saga, key, name)

    async def reschedule(self, saga: SagaRef, key: str, name: str, when: object) -> SagaView:
        """Move a pending deadline to ``when`` (seconds, timedelta, aware datetime)."""
        return await self.admin.reschedule(saga, key, name, when)

    async def cancel(
        self,
        saga: SagaRef,
        key: str,
        *,
        reason: str = "cancelled from outside",
        outcome: str = "cancelled",
        wait: float | None = 30.0,
    ) -> SagaView:
        """Cancel an instance from outside: its compensations run newest first
        and it finishes with ``outcome``; waits up to ``wait`` seconds for it."""
        return await self.admin.cancel(saga, key, reason=reason, outcome=outcome, wait=wait)
