"""The read-only figures of the NATS bus's groups (``bus.groups()``), from the
server's view, so they cover every process of the bus.

Per group (its unkeyed and partition consumers together): ``pending`` is the
consumers' count of messages not delivered yet, ``in_flight`` their count of
messages delivered and not acknowledged (on NATS that includes messages a
member received and has not handed to a handler yet, and messages waiting
for a redelivery). Members are the live heartbeats in the meta stream
(``mem.<group id>.<member>``), dead letters the letters in it. The oldest
unsettled message of a consumer is the first message above its ack floor
that matches its filters.

Example::

    stats = await group_stats(ctx)
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from datetime import datetime
from typing import Any, Final

import orjson

from ..backend import GroupStats
from . import wire
from .context import NatsContext

__all__ = ["group_stats"]

#: A group consumer: ``<group id>-u`` or ``<group id>-k<n>``.
_CONSUMER: Final = re.compile(r"(?P<gid>[A-Za-z0-9_-]+-[0-9a-f]{8})-(?:u|k[0-9]+)")
_PAGE: Final = 256


async def _consumers(ctx: NatsContext) -> list[dict[str, Any]]:
    """Every consumer of the bus's stream (the API lists them by pages)."""
    out: list[dict[str, Any]] = []
    while True:
        resp = await _api(ctx, f"$JS.API.CONSUMER.LIST.{ctx.settings.stream}", {"offset": len(out)})
        page = resp.get("consumers") or []
        out.extend(page)
        if len(page) < _PAGE or len(out) >= int(resp.get("total", 0)):
            return out


async def _api(ctx: NatsContext, subject: str, request: dict[str, Any]) -> dict[str, Any]:
    msg = await ctx.nc.request(subject, orjson.dumps(request), timeout=ctx.settings.timeout)
    resp: dict[str, Any] = orjson.loads(msg.data)
    return resp


def _headers(raw: str | None) -> dict[str, str]:
    """The headers of a stored message (base64 of ``NATS/1.0\\r\\nName: value...``)."""
    if not raw:
        return {}
    out: dict[str, str] = {}
    for line in base64.b64decode(raw).decode("utf-8", "replace").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def _stored_at(text: str) -> float:
    """Unix time of the server's RFC 3339 timestamp (nanoseconds cut to micro)."""
    head, dot, rest = text.rstrip("Z").partition(".")
    fraction = "".join(c for c in rest if c.isdigit())[:6]
    stamp = head + (dot + fraction if fraction else "") + "+00:00"
    return datetime.fromisoformat(stamp).timestamp()


async def _first_after(ctx: NatsContext, seq: int, subject: str) -> float | None:
    """Publish time of the first message at or after ``seq`` on ``subject``, if any."""
    resp = await _api(
        ctx,
        f"$JS.API.STREAM.MSG.GET.{ctx.settings.stream}",
        {"seq": seq, "next_by_subj": subject},
    )
    message = resp.get("message")
    if "error" in resp or not message:
        return None
    meta = wire.read_meta(_headers(message.get("hdrs")))
    if meta.published_at is not None:
        return float(meta.published_at)
    return _stored_at(message["time"])


async def _oldest(ctx: NatsContext, consumer: dict[str, Any]) -> float | None:
    """Publish time of the consumer's oldest unsettled message."""
    floor = int((consumer.get("ack_floor") or {}).get("stream_seq", 0))
    config = consumer.get("config") or {}
    filters = config.get("filter_subjects") or [config.get("filter_subject")]
    found = await asyncio.gather(*(_first_after(ctx, floor + 1, f) for f in filters if f))
    times = [t for t in found if t is not None]
    return min(times) if times else None


async def group_stats(ctx: NatsContext) -> list[GroupStats]:
    """Figures of every group whose consumers exist on the bus's stream."""
    prefix = f"{ctx.settings.prefix}.{wire.UNKEYED}."
    patterns: dict[str, tuple[str, str]] = {}  # gid -> (group, pattern)
    mine: dict[str, list[dict[str, Any]]] = {}
    for consumer in await _consumers(ctx):
        m = _CONSUMER.fullmatch(consumer.get("name", ""))
        if m is None:
            continue  # not a consumer of a bus group
        gid = m["gid"]
        mine.setdefault(gid, []).append(consumer)
        if consumer["name"].endswith("-u"):
            filters = (consumer.get("config") or {}).get("filter_subjects") or []
            for f in filters:
                if f.startswith(prefix):
                    patterns[gid] = (gid.rsplit("-", 1)[0], f[len(prefix) :])
    members = Counter(rel.split(".")[1] for rel in await ctx.meta.count("mem.*.*"))
    letters: Counter[str] = Counter()
    for rel in await ctx.meta.count("dlq.*.*"):
        _, group, letter_id = rel.split(".", 2)
        parts = letter_id.split(":")
        if len(parts) == 3:
            letters[f"{group}-{parts[1]}"] += 1
    gids = [gid for gid in mine if gid in patterns]
    busy = [
        (gid, c)
        for gid in gids
        for c in mine[gid]
        if int(c.get("num_pending") or 0) + int(c.get("num_ack_pending") or 0)
    ]
    found = await asyncio.gather(*(_oldest(ctx, c) for _, c in busy))
    oldest: dict[str, float] = {}
    for (gid, _), at in zip(busy, found, strict=True):
        if at is not None:
            oldest[gid] = min(at, oldest.get(gid, at))
    out: list[GroupStats] = []
    for gid in gids:
        group, pattern = patterns[gid]
        consumers = mine[gid]
        out.append(
            GroupStats(
                group,
                pattern,
                members[gid],
                sum(int(c.get("num_pending") or 0) for c in consumers),
                sum(int(c.get("num_ack_pending") or 0) for c in consumers),
                letters[gid],
                oldest.get(gid),
            )
        )
    return out
