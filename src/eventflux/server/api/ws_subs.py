"""The subscriptions of a WebSocket session: store feeds and bus group members,
and the bounded outbox they write through.

A store subscription reads like ``/api/subscribe`` (catch up, then live);
one that falls behind ends with a ``dropped`` frame and may be subscribed
again from its ``after``. A bus subscription is one member of a consumer
group: with ``ack: "auto"`` a message is acked once its frame is written to
the socket; with ``ack: "client"`` the client answers each ``delivery`` with
``ack`` or ``nak`` within ``ack_wait`` seconds, else it is redelivered.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Final, Protocol

from starlette.websockets import WebSocket

from ...bus import Message, validate_subject
from ..auth import Principal, narrow_prefix, pattern_head
from ..context import ServerContext
from ..errors import ApiError
from ..hub import FeedClosed, FeedFilter
from ..jsonio import dumps
from ..live import LiveReader
from ..params import MAX_INT
from ..tokens import Scope
from ..wire import message_json

__all__ = ["BusSubscription", "Outbox", "StoreSubscription", "Subscription", "parse_subscribe"]

_ids = itertools.count(1)
_DEFAULT_ACK_WAIT: Final = 30.0


class SessionLike(Protocol):
    ctx: ServerContext
    principal: Principal
    outbox: Outbox


class ClientNak(Exception):
    """The WebSocket client refused a delivery (``nak``)."""


class Outbox:
    """Frames waiting for the socket, at most ``maxsize``; a frame may carry a
    future set once it is written (how auto-acks wait for the socket)."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[None] | None]] = asyncio.Queue(
            maxsize
        )
        self._waiting: set[asyncio.Future[None]] = set()

    async def put(self, data: bytes, sent: asyncio.Future[None] | None = None) -> None:
        if sent is not None:
            self._waiting.add(sent)
        await self._queue.put((data, sent))

    async def drain(self, ws: WebSocket) -> None:
        while True:
            data, sent = await self._queue.get()
            await ws.send_text(data.decode())
            if sent is not None:
                self._waiting.discard(sent)
                if not sent.done():
                    sent.set_result(None)

    def fail_pending(self) -> None:
        for fut in self._waiting:
            if not fut.done():
                fut.set_exception(ConnectionError("the WebSocket closed"))
        self._waiting.clear()


class Subscription(Protocol):
    sub_id: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _opt_str(frame: dict[str, Any], name: str) -> str | None:
    value = frame.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    return value


def _opt_int(frame: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = frame.get(name, default)
    if type(value) is not int or not low <= value <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return value


class StoreSubscription:
    """Events after a position, then live, as ``event`` frames."""

    def __init__(self, session: SessionLike, sub_id: str, reader: LiveReader | None) -> None:
        self.session = session
        self.sub_id = sub_id
        self.reader = reader
        self._task: asyncio.Task[None] | None = None
        self._after = reader.last if reader is not None else 0

    def describe(self) -> dict[str, Any]:
        return {"source": "store", "after": self._after}

    async def start(self) -> None:
        if self.reader is None:
            return  # the token's prefix covers none of it: nothing will come
        await self.reader.open()
        self._task = asyncio.ensure_future(self._run(self.reader))

    async def _run(self, reader: LiveReader) -> None:
        head = b'{"type":"event","sub":' + dumps(self.sub_id) + b',"event":'
        try:
            async for item in reader.items(None):
                if item is not None:
                    await self.session.outbox.put(head + item.json() + b"}")
        except FeedClosed as e:
            frame = {
                "type": "dropped",
                "sub": self.sub_id,
                "after": reader.last,
                "reason": e.reason,
            }
            await self.session.outbox.put(dumps(frame))
        finally:
            reader.close()

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class BusSubscription:
    """One member of a consumer group; each message becomes a ``message`` frame."""

    def __init__(
        self,
        session: SessionLike,
        sub_id: str,
        subject: str,
        group: str,
        *,
        client_ack: bool,
        ack_wait: float,
        max_deliver: int,
        concurrency: int,
    ) -> None:
        self.session = session
        self.sub_id = sub_id
        self.subject = subject
        self.group = group
        self.client_ack = client_ack
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.concurrency = concurrency
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._inflight: set[asyncio.Future[None]] = set()

        async def handle(msg: Message) -> None:  # one closure per subscription
            await self._deliver(msg)

        self._handler = handle

    def describe(self) -> dict[str, Any]:
        return {
            "source": "bus",
            "subject": self.subject,
            "group": self.group,
            "ack": "client" if self.client_ack else "auto",
        }

    async def start(self) -> None:
        bus = self.session.ctx.bus
        bus.subscribe(
            self.subject,
            self._handler,
            group=self.group,
            max_deliver=self.max_deliver,
            concurrency=self.concurrency,
        )
        await bus.ready()

    async def _deliver(self, msg: Message) -> None:
        delivery = f"d{next(_ids)}"
        frame = {
            "type": "message",
            "sub": self.sub_id,
            "delivery": delivery,
            "message": message_json(msg),
        }
        # auto: done once the frame is written; client: once the client answers
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight.add(done)
        try:
            if not self.client_ack:
                await self.session.outbox.put(dumps(frame), done)
                await done
                return
            self._pending[delivery] = done
            await self.session.outbox.put(dumps(frame))
            await asyncio.wait_for(done, self.ack_wait)
        finally:
            self._pending.pop(delivery, None)
            self._inflight.discard(done)

    def settle(self, frame: dict[str, Any], *, ack: bool) -> None:
        fut = self._pending.get(frame.get("delivery"))  # type: ignore[arg-type]
        if fut is None or fut.done():
            raise ApiError(404, "NotFound", "no such delivery waiting for an answer")
        if ack:
            fut.set_result(None)
        else:
            reason = frame.get("reason")
            fut.set_exception(ClientNak(reason if isinstance(reason, str) else "nak"))

    async def stop(self) -> None:
        # running deliveries fail (their messages go back to the group), then the member leaves
        for fut in list(self._inflight):
            if not fut.done():
                fut.set_exception(ConnectionError("the subscription ended"))
        await self.session.ctx.bus.unsubscribe(self._handler)


def parse_subscribe(frame: dict[str, Any], session: SessionLike) -> Subscription:
    """A subscription from a ``subscribe`` frame, checked against the token."""
    sub_id = frame.get("sub")
    if not isinstance(sub_id, str) or not 1 <= len(sub_id) <= 64 or not sub_id.isprintable():
        raise _bad("sub must be a string of 1 to 64 printable characters")
    principal = session.principal
    source = frame.get("source")
    if source == "store":
        after = _opt_int(frame, "after", 0, 0, MAX_INT)
        types = frame.get("types")
        if types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            raise _bad("types must be a list of strings")
        prefix = narrow_prefix(principal.prefix, _opt_str(frame, "stream_prefix"))
        if prefix is None:
            return StoreSubscription(session, sub_id, None)
        flt = FeedFilter(frozenset(types) if types else None, prefix or None)
        settings = session.ctx.settings
        return StoreSubscription(
            session, sub_id, LiveReader(session.ctx.hub, flt, after, settings.live_queue)
        )
    if source == "bus":
        principal.check_scope(Scope.WRITE)
        subject = _opt_str(frame, "subject")
        group = _opt_str(frame, "group")
        if subject is None or group is None:
            raise _bad("a bus subscription needs a subject and a group")
        validate_subject(subject, pattern=True)
        if not pattern_head(subject).startswith(principal.prefix):
            principal.check_name(pattern_head(subject), "subject")
        ack = frame.get("ack", "auto")
        if ack not in ("auto", "client"):
            raise _bad('ack must be "auto" or "client"')
        return BusSubscription(
            session,
            sub_id,
            subject,
            group,
            client_ack=ack == "client",
            ack_wait=float(_opt_int(frame, "ack_wait", int(_DEFAULT_ACK_WAIT), 1, 3600)),
            max_deliver=_opt_int(frame, "max_deliver", 5, 1, 1000),
            concurrency=_opt_int(frame, "concurrency", 16, 1, 256),
        )
    raise _bad('source must be "store" or "bus"')
