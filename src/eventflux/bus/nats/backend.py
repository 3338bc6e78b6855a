"""The NATS JetStream message bus (the ``nats`` extra): ``open_bus("nats://host:4222")``.

One JetStream stream holds the bus's messages; each consumer group is a set
of durable pull consumers on it: one for unkeyed messages, shared by every
member (the server balances them), and one per key partition, each consumed
by a single member at a time (a lease, :mod:`.ownership`), which keeps
per-key order across members (:attr:`~eventflux.bus.backend.KeyOrder.MEMBER`:
the consumer runtime runs a key's messages one at a time and retries a failed
one in the member). Publish dedup is the stream's duplicate window on
``Nats-Msg-Id``; ``publish_many`` is one atomic batch. Dead letters, leases,
the inbox and checkpoints live in a second, small stream. See
docs/bus-nats.md for the design.

Example::

    async with await open_bus("nats://127.0.0.1:4222?stream=SHOP&replicas=3") as bus:
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg: Message) -> None: ...

        await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="customer-7")
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, Final, Self
from urllib.parse import SplitResult

import nats
import nats.errors
import orjson

from ...codec import loads
from ...exceptions import BusUnavailableError, ConfigurationError, EventfluxError
from ...resilience.inbox import Inbox
from ..backend import (
    BusBackend,
    Envelope,
    GroupStats,
    KeyOrder,
    MemberHandle,
    Revoke,
    StoredLetter,
)
from . import wire
from .context import NatsContext
from .declare import declare_group
from .errors import DRIVER_ERRORS, driver_error, translated
from .inbox import NatsInbox
from .letters import letter_group, letter_subject, payload, stored_letter
from .member import NatsMember
from .publisher import Publisher
from .settings import NatsSettings, ensure_streams, parse_settings
from .stats import group_stats

__all__ = ["ATOMIC_BATCH", "NatsBusBackend"]

log = logging.getLogger("eventflux.bus.nats")

#: Messages per atomic batch (the server's limit).
ATOMIC_BATCH: Final = 1000


class NatsBusBackend(BusBackend):
    """A message bus on NATS JetStream, shared by every process that opens the same
    stream. ``nc``, ``js`` and ``settings`` are the connection, its JetStream
    context and the settings the stream was created with."""

    durable = True
    key_order = KeyOrder.MEMBER

    def __init__(self, nc: Any, settings: NatsSettings) -> None:
        self.dedup_window = settings.dedup_window
        self.ctx = NatsContext(nc, settings)
        self.nc = nc
        self.js = self.ctx.js
        self.settings = settings
        #: The members of this handle that have not left.
        self.members: set[NatsMember] = set()
        #: Groups whose consumers are known to exist (their start point is fixed).
        self._declared: set[str] = set()
        self._publisher = Publisher(nc, timeout=settings.timeout)
        version = nc.connected_server_version
        self._atomic = (version.major, version.minor) >= (2, 12)

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str]) -> Self:
        settings = parse_settings(url, options)
        members: set[NatsMember] = set()
        publishers: list[Publisher] = []

        async def reconnected() -> None:
            for member in list(members):
                member.reconnected()

        async def disconnected() -> None:
            for p in publishers:
                p.connection_lost()

        async def error(e: Exception) -> None:
            log.warning("NATS connection: %s: %s", type(e).__name__, e)

        try:
            nc = await nats.connect(
                servers=settings.servers,
                user=settings.user,
                password=settings.password,
                name="eventflux",
                connect_timeout=min(settings.timeout, 5.0),
                reconnect_time_wait=0.5,
                max_reconnect_attempts=1,
                reconnected_cb=reconnected,
                disconnected_cb=disconnected,
                error_cb=error,
            )
        except (nats.errors.Error, OSError, TimeoutError) as e:
            raise BusUnavailableError(
                f"cannot connect to NATS at {', '.join(settings.servers)}: {type(e).__name__} {e}"
            ) from e
        nc.options["max_reconnect_attempts"] = -1  # once connected, reconnect for ever
        try:
            version = nc.connected_server_version
            if (version.major, version.minor) < (2, 11):
                raise ConfigurationError(
                    f"the NATS bus needs nats-server 2.11 or newer, not {version}"
                )
            js = nc.jetstream(timeout=settings.timeout)
            atomic = (version.major, version.minor) >= (2, 12)
            settings = await ensure_streams(js, settings, atomic=atomic)
        except BaseException:
            await nc.close()
            raise
        backend = cls(nc, settings)
        backend.members = members
        publishers.append(backend._publisher)
        await backend._publisher.start()
        return backend

    async def close(self) -> None:
        for member in list(self.members):  # members left by no runtime (crashed ones)
            try:
                await member.leave()
            except Exception as e:
                log.warning("group %r: leaving failed: %s", member.group, e)
        self.members.clear()
        await self.ctx.finish_background()
        await self._publisher.stop()
        await self.nc.close()

    # -- publishing ---------------------------------------------------------------------
    def _wire(self, env: Envelope) -> tuple[str, dict[str, str]]:
        headers = wire.envelope_headers(
            env.published_at,
            env.msg_id,
            env.key,
            orjson.dumps(env.headers).decode() if env.headers else None,
            dedup_id=env.msg_id if env.explicit_id else None,
        )
        s = self.settings
        return wire.wire_subject(s.prefix, env.subject, env.key, s.partitions), headers

    async def _publish_one(self, env: Envelope) -> bool:
        subject, headers = self._wire(env)
        ack = await self._publisher.publish(subject, env.data, headers)
        return not ack.get("duplicate", False)

    async def publish(self, envelopes: Sequence[Envelope]) -> list[bool]:
        try:
            if len(envelopes) == 1:
                return [await self._publish_one(envelopes[0])]
            return await self._publish_batch(envelopes)
        except EventfluxError:
            raise
        except DRIVER_ERRORS as e:
            raise driver_error("publishing", e) from e

    async def _publish_batch(self, envelopes: Sequence[Envelope]) -> list[bool]:
        results = [True] * len(envelopes)
        for start in range(0, len(envelopes), ATOMIC_BATCH):
            chunk = range(start, min(start + ATOMIC_BATCH, len(envelopes)))
            if len(chunk) > 1 and self._atomic:
                batch = [(*self._wire(envelopes[i]), envelopes[i].data) for i in chunk]
                if await self._publisher.batch([(s, d, h) for s, h, d in batch]):
                    continue
            # an id already published within the window: publish one by one
            acks = await asyncio.gather(*(self._publish_one(envelopes[i]) for i in chunk))
            for i, fresh in zip(chunk, acks, strict=True):
                results[i] = fresh
        return results

    # -- consuming ----------------------------------------------------------------------
    def declare(self, group: str, pattern: str) -> None:
        """Create the group's consumers now unless this handle knows they exist
        (from a connection of its own, on a thread: the event loop waits)."""
        gid = wire.group_id(group, pattern)
        if gid in self._declared:
            return
        declare_group(self.settings, gid, pattern)
        self._declared.add(gid)

    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        ctx = self.ctx
        gid = wire.group_id(group, pattern)
        with translated(f"joining group {group!r}"):
            await ctx.groups.ensure(gid, pattern)
            self._declared.add(gid)
            await ctx.groups.lower_ack_wait(gid, ack_wait)
            member_id = f"{time.time_ns() // 1_000_000:x}{os.urandom(4).hex()}"
            member = NatsMember(
                ctx,
                group,
                pattern,
                gid,
                member_id,
                concurrency=concurrency,
                revoke=revoke,
                registry=self.members,
            )
            await member.start()
        return member

    # -- dead letters -------------------------------------------------------------------
    async def list_letters(self, group: str | None) -> list[StoredLetter]:
        with translated("listing dead letters"):
            rows = await self.ctx.meta.read_all(f"dlq.{group or '*'}.*")
        records = [orjson.loads(data) for _, _, data in rows]
        records.sort(key=lambda r: (r["dead_at"], r["id"]))
        return [stored_letter(r) for r in records]

    async def retry_letter(self, letter_id: str) -> bool:
        group = letter_group(letter_id)
        if group is None:
            return False
        meta = self.ctx.meta
        rel = letter_subject(group, letter_id)
        with translated("retrying a dead letter"):
            found = await meta.get(rel)
            if found is None:
                return False
            record = orjson.loads(found[1])
            if record["retrying"]:
                return True
            record["retrying"] = True
            rev = await meta.put(rel, orjson.dumps(record), expect=found[0])
            if rev is None:  # retried meanwhile by someone else
                return True
            s = self.settings
            key = record["key"]
            headers = wire.envelope_headers(
                float(record["published_at"]),
                record["msg_id"],
                key,
                record["headers"],
                dedup_id=f"eventflux-retry-{letter_id}-{rev}",
                letter=letter_id,
            )
            target = wire.retry_subject(
                s.prefix, record["gid"], record["subject"], key, s.partitions
            )
            await self.js.publish(target, payload(record), headers=headers)
        return True

    async def purge_letters(self, group: str | None) -> int:
        with translated("purging dead letters"):
            return await self.ctx.meta.purge(f"dlq.{group or '*'}.*")

    # -- introspection ------------------------------------------------------------------
    async def group_stats(self) -> list[GroupStats]:
        with translated("reading the groups"):
            return await group_stats(self.ctx)

    # -- inbox and checkpoints ----------------------------------------------------------
    def inbox(self) -> Inbox:
        return NatsInbox(self.ctx.meta)

    @staticmethod
    def _checkpoint_subject(name: str) -> str:
        return "ckpt." + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()

    async def load_checkpoint(self, name: str) -> int | None:
        with translated("loading a checkpoint"):
            found = await self.ctx.meta.get(self._checkpoint_subject(name))
        return None if found is None else int(loads(found[1])["value"])

    async def save_checkpoint(self, name: str, value: int) -> None:
        body = orjson.dumps({"name": name, "value": value})
        with translated("saving a checkpoint"):
            await self.ctx.meta.put(self._checkpoint_subject(name), body)
