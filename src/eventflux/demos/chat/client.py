"""A Python client of the chat, over the ``websockets`` library: what the
tests, ``eventflux demo chat`` and the benchmark use, and a reference for
other clients.

It keeps each joined room's timeline by version and, when its connection
breaks (or :meth:`ChatClient.reconnect` asks), reconnects to the next server
URL and joins its rooms again with the last version it saw: the server sends
exactly what it missed. A send waits for its acknowledgement (the message's
version and position) for ``ack_timeout`` seconds; without one it reconnects
and sends again with the same client message id, which never posts twice.
A connection that breaks while the client only listens is resumed the same
way, in the background (``resume=False`` leaves it broken).

Example::

    async with ChatClient(["ws://127.0.0.1:8001/demos/chat/ws",
                           "ws://127.0.0.1:8002/demos/chat/ws"], "ann") as ann:
        await ann.join("general")
        ack = await ann.send("general", "hello")
        print(ack.version, ann.timeline("general")[-1]["text"])
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Self

import orjson

from ...exceptions import EventfluxError
from .names import ChatError
from .timeline import Ack, Timeline

__all__ = ["ChatClient", "ClosedError"]

#: close codes after which the client does not reconnect by itself: it broke
#: the rules (1008: too many refused operations, 1009: a frame too large)
_REFUSED: Final = frozenset({1008, 1009})


class ClosedError(EventfluxError, ConnectionError):
    """The client is closed, or could not reach any server."""


class ChatClient(Timeline):
    """One user's connection to the chat, resumable across server processes;
    what it received is its :class:`~.timeline.Timeline`."""

    def __init__(
        self,
        urls: str | Sequence[str],
        user: str,
        *,
        ack_timeout: float = 10.0,
        ping: bool = True,
        resume: bool = True,
        client: str | None = None,
        on_frame: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__()
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("a ChatClient needs at least one URL")
        self.user = user
        self.client = client or uuid.uuid4().hex[:12]
        self.ack_timeout = ack_timeout
        self.ping = ping
        self.resume = resume
        self.reconnects = 0
        self.on_frame = on_frame
        self.welcome: dict[str, Any] = {}
        self.url = self.urls[0]
        self.closed_with: tuple[int | None, str] | None = None
        self._next_url = itertools.cycle(range(len(self.urls)))
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._acks: dict[str, asyncio.Future[Ack]] = {}
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []
        self._lost = asyncio.Event()
        self._closed = False
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the connection ------------------------------------------------------------------
    async def connect(self, url: str | None = None) -> None:
        """Connect (to ``url``, else the next URL), say hello, and join again
        the rooms joined before, from the last version seen in each."""
        from websockets.asyncio.client import connect

        self.url = url or self.urls[next(self._next_url)]
        self._lost.clear()
        self.closed_with = None
        self._ws = await connect(self.url, max_size=2**22, open_timeout=10)
        welcome = self._expect(lambda f: f["type"] == "welcome", "hello")
        self._reader = asyncio.ensure_future(self._read(self._ws))
        await self._send({"op": "hello", "user": self.user, "client": self.client})
        self.welcome = await self._wait(welcome)
        if self.ping:
            self._pinger = asyncio.ensure_future(self._pings(self.welcome["heartbeat"]))
        for room, view in list(self.rooms.items()):
            await self.join(room, after=view.last)

    async def reconnect(self, url: str | None = None) -> None:
        """Drop the connection and connect again (to ``url``, else the next URL)."""
        await self.drop()
        await self.connect(url)

    async def drop(self) -> None:
        """Close the socket (the server sees the client go), keeping what the
        client knows, to :meth:`connect` again later (a dropped client does not
        reconnect by itself)."""
        recovery = self._recovery
        if recovery is not None and recovery is not asyncio.current_task():
            self._recovery = None
            recovery.cancel()
            with contextlib.suppress(BaseException):
                await recovery
        ws, self._ws = self._ws, None  # the reader sees a socket no longer current
        self._lost.set()
        for task in (self._pinger, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._pinger = self._reader = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def close(self) -> None:
        """Close for good."""
        self._closed = True
        await self.drop()
        for fut in [*self._acks.values(), *(f for _, f in self._waiters)]:
            if not fut.done():
                fut.set_exception(ClosedError("the chat client closed"))
        self._acks.clear()
        self._waiters.clear()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._lost.is_set()

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            raise ClosedError("not connected")
        try:
            await self._ws.send(orjson.dumps(frame).decode())
        except Exception as e:
            self._lost.set()
            raise ClosedError(f"the connection to {self.url} broke: {e}") from e

    async def _pings(self, every: float) -> None:
        with contextlib.suppress(ClosedError):
            while True:
                await asyncio.sleep(every)
                await self._send({"op": "ping"})

    # -- frames in -------------------------------------------------------------------------
    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in ws:
                self._frame(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed_with = (ws.close_code, ws.close_reason or "")
            if ws is self._ws:
                self._lost.set()
                refused = self.closed_with[0] in _REFUSED  # the client itself is at fault
                if self.resume and not refused and not self._closed and self._recovery is None:
                    self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """The connection broke under the client: connect to the next URL (then
        the next, backing off) until one answers; the rooms resume from the last
        version seen."""
        wait = 0.05
        try:
            while not self._closed:
                async with self._lock:
                    if self.connected:
                        return
                    try:
                        await self.reconnect()
                        self.reconnects += 1
                        return
                    except (OSError, ClosedError, ChatError, TimeoutError):
                        pass
                await asyncio.sleep(wait)
                wait = min(wait * 2, 2.0)
        finally:
            if self._recovery is asyncio.current_task():
                self._recovery = None

    def _frame(self, frame: dict[str, Any]) -> None:
        self.apply(frame)
        kind = frame.get("type")
        if kind == "ack":
            fut = self._acks.pop(frame["cid"], None)
            if fut is not None and not fut.done():
                fut.set_result(Ack.of(frame))
        elif kind == "error" and frame.get("cid") in self._acks:
            fut = self._acks.pop(frame["cid"])
            if not fut.done():
                fut.set_exception(_error(frame))
        for i, (match, waiter) in enumerate(self._waiters):
            if not waiter.done() and match(frame):
                del self._waiters[i]
                if kind == "error":
                    waiter.set_exception(_error(frame))
                else:
                    waiter.set_result(frame)
                break
        if self.on_frame is not None:
            self.on_frame(frame)

    def _expect(self, match: Callable[[dict[str, Any]], bool], op: str) -> asyncio.Future[Any]:
        """A future for the next frame that ``match``es, or an error of ``op``."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def matches(f: dict[str, Any]) -> bool:
            return match(f) or (f.get("type") == "error" and f.get("op") == op)

        self._waiters.append((matches, fut))
        return fut

    async def _wait(self, fut: asyncio.Future[Any]) -> Any:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {fut, lost}, timeout=self.ack_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if fut in done:
            return fut.result()
        fut.cancel()
        why = "broke" if lost in done else f"did not answer within {self.ack_timeout:g} s"
        raise ClosedError(f"the connection to {self.url} {why}")

    async def request(
        self, frame: dict[str, Any], match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Send ``frame`` and return the first frame that ``match``es (an error
        frame of the same op raises its ChatError)."""
        fut = self._expect(match, frame["op"])
        await self._send(frame)
        result: dict[str, Any] = await self._wait(fut)
        return result

    # -- operations ---------------------------------------------------------------------------
    async def rooms_list(self) -> dict[str, Any]:
        """``{"rooms": [{"room", "members", "online", "messages"...}], "dms": [...]}``."""
        return await self.request({"op": "rooms"}, lambda f: f["type"] == "rooms")

    async def create(self, room: str) -> None:
        await self.request({"op": "create", "room": room}, _is("created", room))

    async def join(
        self, room: str, *, after: int | None = None, history: int | None = None
    ) -> dict[str, Any]:
        """Follow ``room`` (and join it as a member): the last ``history``
        messages, or with ``after`` every event after that version."""
        frame: dict[str, Any] = {"op": "join", "room": room}
        if after is not None:
            frame["after"] = after
        if history is not None:
            frame["history"] = history
        self.view(room)
        return await self.request(frame, _is("joined", room))

    async def leave(self, room: str) -> None:
        await self.request({"op": "leave", "room": room}, _is("left", room))
        self.rooms.pop(room, None)

    async def dm(self, other: str) -> str:
        """The conversation with ``other`` (join it to read and write)."""
        frame = await self.request({"op": "dm", "with": other}, lambda f: f["type"] == "dm")
        return str(frame["room"])

    async def older(self, room: str, limit: int | None = None) -> dict[str, Any]:
        """The page of events before the oldest one this client holds."""
        view = self.view(room)
        frame: dict[str, Any] = {
            "op": "history",
            "room": room,
            "before": min(view.events, default=1),
        }
        if limit is not None:
            frame["limit"] = limit
        return await self.request(frame, _is("history", room))

    async def send(self, room: str, text: str, *, cid: str | None = None, retries: int = 5) -> Ack:
        """Post ``text`` and wait for its acknowledgement; on a timeout or a
        broken connection, reconnect and send again with the same ``cid``."""
        cid = cid or uuid.uuid4().hex
        return await self._acked({"op": "send", "room": room, "text": text, "cid": cid}, retries)

    async def edit(self, room: str, version: int, text: str, *, cid: str | None = None) -> Ack:
        frame = {"op": "edit", "room": room, "version": version, "text": text}
        return await self._acked({**frame, "cid": cid or uuid.uuid4().hex}, 5)

    async def delete(self, room: str, version: int, *, cid: str | None = None) -> Ack:
        frame = {"op": "delete", "room": room, "version": version}
        return await self._acked({**frame, "cid": cid or uuid.uuid4().hex}, 5)

    async def _acked(self, frame: dict[str, Any], retries: int) -> Ack:
        cid = frame["cid"]
        for attempt in range(retries + 1):
            async with self._lock:
                if not self.connected and not self._closed:
                    with contextlib.suppress(OSError, ClosedError):
                        await self.reconnect()
            fut = self._acks.get(cid)
            if fut is None or fut.done():
                fut = self._acks[cid] = asyncio.get_running_loop().create_future()
            try:
                await self._send(frame)
                ack: Ack = await self._wait(fut)
                return ack
            except ChatError as e:
                if e.kind != "RateLimited" or attempt == retries:
                    raise
                await asyncio.sleep(float(str(e.extra.get("retry_after", 0.1))))
            except ClosedError:
                if self._closed or attempt == retries:
                    raise
                self._lost.set()
        raise ClosedError("unreachable")

    async def typing(self, room: str) -> None:
        await self._send({"op": "typing", "room": room})

    async def status(self, state: str) -> None:
        """``online`` or ``away`` (a page does it when its tab is hidden)."""
        await self._send({"op": "status", "state": state})

    # -- waiting for what arrives ------------------------------------------------------------
    async def wait_until(self, condition: Callable[[], bool], within: float = 20.0) -> None:
        """Wait until ``condition()`` holds (checked every few milliseconds)."""
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - frames arrive on another task
                await asyncio.sleep(0.005)


def _is(kind: str, room: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and f.get("room") == room


def _error(frame: dict[str, Any]) -> ChatError:
    error = dict(frame.get("error") or {})
    kind = str(error.pop("type", "Error"))
    message = str(error.pop("message", ""))
    return ChatError(kind, message, **error)
