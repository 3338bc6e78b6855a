"""The bus's small key-value store: the ``<stream>_META`` stream.

It keeps one message per subject (the latest), read back with the server's
direct get. Writes may be conditional on the subject's last sequence (a
compare-and-set) and may expire (a per-message time to live). The bus keeps
there: dead letters (``dlq.<group>.<letter id>``), partition leases
(``own.<group id>.<n>``), live members (``mem.<group id>.<member>``),
handler-run counts (``run.<group id>.<stream seq>``), the inbox
(``inbox.<group>.<digest>``) and checkpoints (``ckpt.<name in hex>``).

Example::

    meta = MetaStore(nc, js, "EVENTFLUX_META", "EVENTFLUX_meta", timeout=10.0)
    rev = await meta.put("own.g-1a2b3c4d.0", b"member-1", expect=0, ttl=5)
    found = await meta.get("own.g-1a2b3c4d.0")      # (seq, data) or None
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import nats.js.errors
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .wire import ack_fields

__all__ = ["MetaStore"]

_WRONG_LAST_SEQUENCE = (10071, 10164)
_READ_BATCH = 256


class MetaStore:
    """Reads and writes of the meta stream; subjects are relative to its prefix."""

    def __init__(self, nc: Any, js: Any, stream: str, prefix: str, *, timeout: float) -> None:
        self.nc = nc
        self.js = js
        self.stream = stream
        self.prefix = prefix
        self.timeout = timeout

    def subject(self, rel: str) -> str:
        return f"{self.prefix}.{rel}"

    async def get(self, rel: str) -> tuple[int, bytes] | None:
        """``(sequence, data)`` of the latest message on the subject, or None."""
        msg = await self.nc.request(
            f"$JS.API.DIRECT.GET.{self.stream}.{self.subject(rel)}", b"", timeout=self.timeout
        )
        headers = msg.headers or {}
        if headers.get("Status") == "404":
            return None
        if "Status" in headers:
            raise RuntimeError(
                f"reading {rel!r} failed: {headers.get('Status')} {headers.get('Description')}"
            )
        return int(headers.get("Nats-Sequence", 0)), bytes(msg.data)

    async def put(
        self, rel: str, data: bytes, *, expect: int | None = None, ttl: float | None = None
    ) -> int | None:
        """Store ``data``; with ``expect``, only if the subject's last sequence is
        ``expect`` (0 = no message), else return None. Returns the new sequence."""
        headers: dict[str, str] = {}
        if expect is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expect)
        if ttl is not None:
            headers["Nats-TTL"] = f"{max(1, math.ceil(ttl))}s"
        try:
            ack = await self.js.publish(
                self.subject(rel), data, timeout=self.timeout, headers=headers or None
            )
        except nats.js.errors.APIError as e:
            if expect is not None and e.err_code in _WRONG_LAST_SEQUENCE:
                return None
            raise
        return int(ack.seq)

    async def purge(self, rel_filter: str) -> int:
        """Delete every message whose subject matches ``rel_filter``; return how many."""
        resp = await self._api(
            f"$JS.API.STREAM.PURGE.{self.stream}", {"filter": self.subject(rel_filter)}
        )
        return int(resp.get("purged", 0))

    async def count(self, rel_filter: str) -> dict[str, int]:
        """The subjects matching ``rel_filter`` (relative), with their message counts."""
        info = await self.js.stream_info(self.stream, subjects_filter=self.subject(rel_filter))
        cut = len(self.prefix) + 1
        return {s[cut:]: n for s, n in (info.state.subjects or {}).items()}

    async def read_all(self, rel_filter: str) -> list[tuple[str, int, bytes]]:
        """``(relative subject, sequence, data)`` of every message matching the filter,
        in stream order, read through a short-lived consumer with requests that
        return what is there and end (never waiting for more)."""
        if not await self.count(rel_filter):
            return []
        name = "read-" + self.nc.new_inbox().rsplit(".", 1)[1]
        config = ConsumerConfig(
            name=name,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.subject(rel_filter),
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        await self.js.add_consumer(self.stream, config)
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        cut = len(self.prefix) + 1
        out: list[tuple[str, int, bytes]] = []
        request = orjson.dumps({"batch": _READ_BATCH, "no_wait": True})
        try:
            more = True
            while more:
                await self.nc.publish(
                    f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{name}", request, reply=inbox
                )
                for _ in range(_READ_BATCH):
                    m = await sub.next_msg(timeout=self.timeout)
                    if not m.reply:  # a status: nothing more now
                        more = False
                        break
                    _, seq, pending = ack_fields(m.reply)
                    out.append((m.subject[cut:], seq, bytes(m.data)))
                    if pending == 0:
                        more = False
                        break
        finally:
            await sub.unsubscribe()
            with contextlib.suppress(Exception):  # it also goes after inactive_threshold
                await self.js.delete_consumer(self.stream, name)
        return out

    async def _api(self, subject: str, request: dict[str, Any]) -> dict[str, Any]:
        msg = await self.nc.request(subject, orjson.dumps(request), timeout=self.timeout)
        resp: dict[str, Any] = orjson.loads(msg.data)
        if "error" in resp:
            raise nats.js.errors.APIError.from_error(resp["error"])
        return resp
