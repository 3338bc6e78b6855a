"""Publishing to JetStream with acknowledgements, many at a time.

:class:`Publisher` sends each message with a reply subject under one inbox
subscription and resolves a future when the stream's acknowledgement comes
back, so any number of publishes can be in flight on one connection. A
sweeper fails the publishes whose acknowledgement did not come within the
timeout (the outcome is then unknown: retrying with the same ``msg_id`` is
safe). :meth:`Publisher.batch` publishes up to 1000 messages as one atomic
batch (all stored or none).

Example::

    pub = Publisher(nc, timeout=10.0)
    await pub.start()
    ack = await pub.publish("EVENTFLUX.u.orders.created", b'{"id": 1}', {"Nats-Msg-Id": "o-1"})
    ack.get("duplicate")      # True when the id was seen within the dedup window
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from typing import Any, Final

import orjson

from ...exceptions import BusUnavailableError

__all__ = ["DUPLICATE_IN_BATCH", "Publisher"]

#: The server's error code for an atomic batch holding an id seen within the window.
DUPLICATE_IN_BATCH: Final = 10201


class Publisher:
    """Acknowledged publishes over one connection."""

    def __init__(self, nc: Any, *, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout
        self._prefix = ""
        self._cut = 0
        self._tokens = itertools.count()
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], float]] = {}
        self._sub: Any = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._prefix = self.nc.new_inbox()
        self._cut = len(self._prefix) + 1
        self._sub = await self.nc.subscribe(self._prefix + ".*", cb=self._reply)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(BusUnavailableError("the bus was closed before the ack came"))
        self._pending.clear()

    def connection_lost(self) -> None:
        """The connection dropped: acks of what was sent before cannot come any more."""
        pending, self._pending = self._pending, {}
        for fut, _ in pending.values():
            if not fut.done():
                fut.set_exception(
                    BusUnavailableError(
                        "the connection to NATS was lost before the publish ack came; the "
                        "message may or may not be stored (publishing again with the same "
                        "msg_id is safe)"
                    )
                )

    async def _reply(self, msg: Any) -> None:
        entry = self._pending.pop(msg.subject[self._cut :], None)
        if entry is None or entry[0].done():
            return
        fut = entry[0]
        headers = msg.headers
        if not msg.data and headers and headers.get("Status") == "503":
            fut.set_exception(
                BusUnavailableError("no JetStream stream answered (is the server starting?)")
            )
            return
        try:
            fut.set_result(orjson.loads(msg.data))
        except orjson.JSONDecodeError as e:
            fut.set_exception(BusUnavailableError(f"unreadable publish ack: {e}"))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.timeout / 4))
            now = time.monotonic()
            late = [t for t, (_, deadline) in self._pending.items() if deadline < now]
            for token in late:
                fut, _ = self._pending.pop(token)
                if not fut.done():
                    fut.set_exception(
                        BusUnavailableError(
                            f"no publish ack within {self.timeout:g} s; the message may or may "
                            "not be stored (publishing again with the same msg_id is safe)"
                        )
                    )

    async def _send(self, subject: str, payload: bytes, headers: dict[str, str]) -> dict[str, Any]:
        token = str(next(self._tokens))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = (fut, time.monotonic() + self.timeout)
        try:
            await self.nc.publish(
                subject, payload, reply=f"{self._prefix}.{token}", headers=headers
            )
        except BaseException:
            self._pending.pop(token, None)
            raise
        return await fut

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> dict[str, Any]:
        """Publish and wait for the stream's ack; raises on a refusal."""
        ack = await self._send(subject, payload, headers)
        error = ack.get("error")
        if error is not None:
            raise BusUnavailableError(f"the stream refused the message: {error.get('description')}")
        return ack

    async def batch(self, messages: list[tuple[str, bytes, dict[str, str]]]) -> bool:
        """Publish ``messages`` (2 to 1000) as one atomic batch. False when the
        server refused it because an explicit id was seen within the dedup window."""
        batch_id = uuid.uuid4().hex
        last = len(messages)
        ack: dict[str, Any] = {}
        for n, (subject, payload, headers) in enumerate(messages, 1):
            headers["Nats-Batch-Id"] = batch_id
            headers["Nats-Batch-Sequence"] = str(n)
            if n < last:
                await self.nc.publish(subject, payload, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                ack = await self._send(subject, payload, headers)
        error = ack.get("error")
        if error is None:
            return True
        if error.get("err_code") == DUPLICATE_IN_BATCH:
            return False
        raise BusUnavailableError(f"the stream refused the batch: {error.get('description')}")
