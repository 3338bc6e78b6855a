"""The NATS JetStream message bus (the ``nats`` extra): ``open_bus("nats://host:4222")``.

One JetStream stream holds the bus's messages; each consumer group is a set
of durable pull consumers on it: one for unkeyed messages, shared by every
member (the server balances them), and one per key partition, each consumed
by a single member at a time (a lease), which keeps per-key order across
members. Publish dedup is the stream's duplicate window on ``Nats-Msg-Id``;
``publish_many`` is one atomic batch. Retries wait with a delayed nak
(unkeyed) or in the owning member (keyed, so the key stays held); dead
letters live in a second, small stream. See docs/bus-nats.md for the design.

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Self
from urllib.parse import SplitResult

import nats
import nats.errors
import nats.js.errors
import orjson

from ..codec import Codec, loads
from ..exceptions import BusError, BusUnavailableError, ConfigurationError, EventfluxError
from . import _nats_dlq as dlq
from . import _nats_wire as wire
from ._nats_groups import GroupRegistry
from ._nats_holdings import Tracked
from ._nats_inbox import NatsInbox
from ._nats_member import NatsMember
from ._nats_meta import MetaStore
from ._nats_owner import Ownership
from ._nats_publish import Publisher
from ._nats_setup import NatsSettings, ensure_streams, parse_settings
from .base import MessageBus
from .message import DeadLetter, Delivery, Envelope
from .subjects import compile_pattern

__all__ = ["NatsBus"]

log = logging.getLogger("eventflux.bus.nats")

#: Messages per atomic batch (the server's limit).
ATOMIC_BATCH: Final = 1000
#: How long delivery-count adjustments are kept (seconds).
ADJUSTMENT_TTL: Final = 7 * 24 * 3600.0


#: What the NATS client raises when the server is away or slow.
_DRIVER_ERRORS: Final = (nats.errors.Error, TimeoutError, OSError)


def _driver_error(what: str, e: BaseException) -> BusError:
    """The eventflux error for a driver error (translated at the backend boundary)."""
    if isinstance(e, nats.errors.MaxPayloadError):
        return BusError(f"{what} failed: the message is larger than the server allows")
    return BusUnavailableError(f"{what} failed: {type(e).__name__}: {e}")


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn driver errors into eventflux errors (for the paths that are not hot)."""
    try:
        yield
    except EventfluxError:
        raise
    except _DRIVER_ERRORS as e:
        raise _driver_error(what, e) from e


class NatsBus(MessageBus):
    """A message bus on NATS JetStream, shared by every process that opens the same
    stream."""

    durable = True

    def __init__(self, nc: Any, settings: NatsSettings, *, codec: Codec | None = None) -> None:
        super().__init__(dedup_window=settings.dedup_window, codec=codec)
        self.nc = nc
        self.js = nc.jetstream(timeout=settings.timeout)
        self.settings = settings
        self._meta = MetaStore(
            nc, self.js, settings.meta_stream, settings.meta_prefix, timeout=settings.timeout
        )
        self._prefix_len = len(settings.prefix)
        self._groups = GroupRegistry(self.js, settings)
        self._handles: set[NatsMember] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._publisher = Publisher(nc, timeout=settings.timeout)
        version = nc.connected_server_version
        self._atomic = (version.major, version.minor) >= (2, 12)

    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        settings = parse_settings(url, options)
        handles: set[NatsMember] = set()
        publishers: list[Publisher] = []

        async def reconnected() -> None:
            for h in list(handles):
                h.reconnected()

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
        bus = cls(nc, settings, codec=codec)
        bus._handles = handles
        publishers.append(bus._publisher)
        await bus._publisher.start()
        return bus

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close(self) -> None:
        for handle in list(self._handles):
            try:
                await handle.leave()
            except Exception as e:
                log.warning("group %r: leaving failed: %s", handle.group, e)
        self._handles.clear()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
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

    async def _publish(self, envelopes: list[Envelope]) -> list[bool]:
        try:
            if len(envelopes) == 1:
                return [await self._publish_one(envelopes[0])]
            return await self._publish_batch(envelopes)
        except EventfluxError:
            raise
        except _DRIVER_ERRORS as e:
            raise _driver_error("publishing", e) from e

    async def _publish_batch(self, envelopes: list[Envelope]) -> list[bool]:
        results = [True] * len(envelopes)
        seen: set[str] = set()
        todo: list[int] = []
        for i, env in enumerate(envelopes):
            if env.explicit_id:
                if env.msg_id in seen:
                    results[i] = False
                    continue
                seen.add(env.msg_id)
            todo.append(i)
        for start in range(0, len(todo), ATOMIC_BATCH):
            chunk = todo[start : start + ATOMIC_BATCH]
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
    def _ack_wait(self, gid: str) -> float:
        return self._groups.ack_wait(gid)

    async def _join(self, group: str, pattern: str) -> NatsMember:
        gid = wire.group_id(group, pattern)
        with _translated(f"joining group {group!r}"):
            await self._groups.ensure(gid, pattern)
            member_id = f"{time.time_ns() // 1_000_000:x}{os.urandom(4).hex()}"
            member = NatsMember(self, group, pattern, gid, member_id)
            self._handles.add(member)
            await member.start(Ownership(member, self.settings.partitions))
        return member

    async def _leave(self, handle: NatsMember) -> None:
        try:
            await handle.leave()
        finally:
            self._handles.discard(handle)

    async def _fetch(
        self,
        handle: NatsMember,
        max_messages: int,
        ack_wait: float,
        timeout: float,  # noqa: ASYNC109 - the port's signature
    ) -> list[Delivery]:
        try:
            await self._groups.lower_ack_wait(handle.gid, ack_wait)
            return await handle.fetch(max_messages, timeout)
        except _DRIVER_ERRORS as e:
            raise _driver_error("fetching", e) from e

    def _wake(self, handle: NatsMember) -> None:
        handle.stop()

    async def _ack(self, delivery: Delivery) -> None:
        t: Tracked = delivery.ref
        try:
            await t.member.ack(t)
        except _DRIVER_ERRORS as e:
            raise _driver_error("acknowledging", e) from e

    async def _nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        t: Tracked = delivery.ref
        with _translated("giving a message back"):
            await t.member.nak(t, delay, count)

    async def _extend(self, deliveries: list[Delivery], ack_wait: float) -> None:
        if deliveries:
            t: Tracked = deliveries[0].ref
            with _translated("extending"):
                await t.member.extend([d.ref for d in deliveries])

    async def _dead_letter(self, delivery: Delivery, group: str, error: str) -> None:
        t: Tracked = delivery.ref
        with _translated("dead-lettering"):
            await t.member.dead_letter(t, group, error)

    # -- delivery-count adjustments (see _nats_member) -------------------------------------
    async def _save_adjustment(self, gid: str, seq: int, value: int) -> None:
        if value == 0:
            await self._meta.purge(f"adj.{gid}.{seq}")
        else:
            await self._meta.put(f"adj.{gid}.{seq}", str(value).encode(), ttl=ADJUSTMENT_TTL)

    async def _load_adjustment(self, gid: str, seq: int) -> int:
        found = await self._meta.get(f"adj.{gid}.{seq}")
        return 0 if found is None else int(found[1])

    def _forget_adjustment(self, gid: str, seq: int) -> None:
        self._spawn(self._quietly(self._meta.purge(f"adj.{gid}.{seq}")))

    @staticmethod
    async def _quietly(coro: Any) -> None:
        try:
            await coro
        except Exception as e:
            log.debug("background cleanup failed: %s", e)

    # -- dead letters -------------------------------------------------------------------
    async def _write_letter(self, member: NatsMember, t: Tracked, group: str, error: str) -> None:
        rel, body = dlq.letter_record(member, t, group, error)
        await self._meta.put(rel, body)

    async def _letter_done(self, letter_id: str) -> None:
        group = dlq.letter_group(letter_id)
        if group is not None:
            await self._meta.purge(dlq.letter_subject(group, letter_id))

    async def _dlq_list(
        self, group: str | None, subject: str | None, limit: int | None
    ) -> list[DeadLetter]:
        with _translated("listing dead letters"):
            rows = await self._meta.read_all(f"dlq.{group or '*'}.*")
        match = compile_pattern(subject) if subject is not None else None
        records = [orjson.loads(data) for _, _, data in rows]
        records.sort(key=lambda r: (r["dead_at"], r["id"]))
        out: list[DeadLetter] = []
        for r in records:
            if match is not None and not match(r["subject"]):
                continue
            if limit is not None and len(out) >= limit:
                break
            out.append(dlq.dead_letter(r, self._letter_data(dlq.payload(r))))
        return out

    async def _dlq_retry(self, letter_id: str) -> bool:
        group = dlq.letter_group(letter_id)
        if group is None:
            return False
        rel = dlq.letter_subject(group, letter_id)
        with _translated("retrying a dead letter"):
            found = await self._meta.get(rel)
            if found is None:
                return False
            record = orjson.loads(found[1])
            if record["retrying"]:
                return True
            record["retrying"] = True
            rev = await self._meta.put(rel, orjson.dumps(record), expect=found[0])
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
            await self.js.publish(target, dlq.payload(record), headers=headers)
        return True

    async def _dlq_purge(self, group: str | None) -> int:
        with _translated("purging dead letters"):
            return await self._meta.purge(f"dlq.{group or '*'}.*")

    # -- inbox and checkpoints ----------------------------------------------------------
    def _make_inbox(self) -> NatsInbox:
        return NatsInbox(self._meta)

    @staticmethod
    def _checkpoint_subject(name: str) -> str:
        return "ckpt." + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()

    async def _load_checkpoint(self, name: str) -> int | None:
        with _translated("loading a checkpoint"):
            found = await self._meta.get(self._checkpoint_subject(name))
        return None if found is None else int(loads(found[1])["value"])

    async def _save_checkpoint(self, name: str, value: int) -> None:
        body = orjson.dumps({"name": name, "value": value})
        with _translated("saving a checkpoint"):
            await self._meta.put(self._checkpoint_subject(name), body)
