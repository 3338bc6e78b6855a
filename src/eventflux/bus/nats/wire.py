"""How bus messages look on the wire of the NATS backend: subjects, headers,
partitions and the parts of a JetStream reply subject.

A message published to the bus subject ``orders.created`` is stored in the
bus's stream under ``<prefix>.<lane>.orders.created``, where ``<lane>`` is
``u`` for a message without a key and ``k<n>`` for a keyed one, ``n`` being
the key's partition (a stable hash of the key modulo the partition count).
A dead letter retried for one group goes to
``<prefix>.r.<group id>.<lane>.<subject>``, which only that group's consumers
also filter on. Two headers carry the envelope: ``Nats-Msg-Id`` (explicit
ids, for the server's dedup) and ``Ef``, a JSON array ``[published_at,
msg_id, key, headers, letter]`` (trailing nulls left out; ``msg_id`` is null
when ``Nats-Msg-Id`` holds it; ``headers`` is the caller's headers as a JSON
string; ``letter`` the dead letter a retried message comes from). One header
line keeps the client's per-message header parsing short.

Example::

    wire_subject("EVENTFLUX", "orders.created", "customer-7", 8)
    # 'EVENTFLUX.k5.orders.created'
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any, Final, NamedTuple

import orjson

__all__ = [
    "META",
    "MSG_ID",
    "RETRY",
    "UNKEYED",
    "Meta",
    "ack_fields",
    "decode_value",
    "encode_value",
    "envelope_headers",
    "filters",
    "group_id",
    "lane_token",
    "partition_of",
    "read_meta",
    "retry_subject",
    "split_subject",
    "wire_subject",
]

MSG_ID: Final = "Nats-Msg-Id"
META: Final = "Ef"
UNKEYED: Final = "u"
RETRY: Final = "r"


def partition_of(key: str, partitions: int) -> int:
    """The partition of ``key``: CRC-32 of its UTF-8 bytes, modulo ``partitions``."""
    return zlib.crc32(key.encode("utf-8")) % partitions


def lane_token(key: str | None, partitions: int) -> str:
    """``u`` for unkeyed messages, ``k<n>`` for keyed ones."""
    return UNKEYED if key is None else f"k{partition_of(key, partitions)}"


def wire_subject(prefix: str, subject: str, key: str | None, partitions: int) -> str:
    """The stream subject of a message published to ``subject``."""
    return f"{prefix}.{lane_token(key, partitions)}.{subject}"


def retry_subject(prefix: str, gid: str, subject: str, key: str | None, partitions: int) -> str:
    """The stream subject of a dead letter retried for the group ``gid`` only."""
    return f"{prefix}.{RETRY}.{gid}.{lane_token(key, partitions)}.{subject}"


def filters(prefix: str, gid: str, lane: str, pattern: str) -> list[str]:
    """The filter subjects of a group's consumer for one lane (``u`` or ``k<n>``)."""
    return [f"{prefix}.{lane}.{pattern}", f"{prefix}.{RETRY}.{gid}.{lane}.{pattern}"]


def split_subject(wire: str, prefix_len: int) -> str:
    """The bus subject of a stored message (the prefix and lane tokens removed)."""
    rest = wire[prefix_len + 1 :]
    lane, _, subject = rest.partition(".")
    if lane == RETRY:
        _gid, _, rest = subject.partition(".")
        _lane, _, subject = rest.partition(".")
    return subject


def group_id(group: str, pattern: str) -> str:
    """The id of a consumer group: its name and a short hash of its pattern.

    Groups are ``(name, pattern)`` pairs, as on every backend; the hash keeps
    two patterns of one name apart in consumer names and subjects.
    """
    digest = hashlib.blake2b(pattern.encode("utf-8"), digest_size=4).hexdigest()
    return f"{group}-{digest}"


def encode_value(value: str) -> str:
    """A header value that survives the trip: values with surrounding spaces (the
    protocol strips them) or starting with a quote travel as JSON strings."""
    if value and value[0] != '"' and value[0] != " " and value[-1] != " ":
        return value
    return orjson.dumps(value).decode()


def decode_value(value: str) -> str:
    """The inverse of :func:`encode_value`."""
    if value.startswith('"'):
        decoded = orjson.loads(value)
        if isinstance(decoded, str):
            return decoded
    return value


def ack_fields(reply: str) -> tuple[int, int, int]:
    """``(deliveries, stream sequence, pending)`` from a JetStream ack subject.

    The subject is ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``,
    or the longer form with a domain and an account hash after ``$JS.ACK``.
    """
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[4]), int(tokens[5]), int(tokens[8])
    return int(tokens[6]), int(tokens[7]), int(tokens[10])


class Meta(NamedTuple):
    """The envelope of a stored message, read from its headers."""

    published_at: float | None
    msg_id: str | None
    key: str | None
    headers: str | None
    letter: str | None


def envelope_headers(
    published_at: float,
    msg_id: str,
    key: str | None,
    headers: str | None,
    *,
    dedup_id: str | None = None,
    letter: str | None = None,
) -> dict[str, str]:
    """The NATS headers of a message. ``dedup_id`` goes to ``Nats-Msg-Id`` (the
    server's dedup); when it is the message's own id, the ``Ef`` array leaves
    the id out. ``headers`` is the caller's headers as a JSON string."""
    own = dedup_id == msg_id
    meta: list[Any] = [published_at, None if own else msg_id, key, headers, letter]
    while meta[-1] is None:
        meta.pop()
    out = {META: orjson.dumps(meta).decode()}
    if dedup_id is not None:
        out[MSG_ID] = encode_value(dedup_id)
    return out


def read_meta(headers: dict[str, str] | None) -> Meta:
    """The envelope in a message's headers (all None for foreign messages)."""
    if not headers:
        return Meta(None, None, None, None, None)
    raw = headers.get(META)
    meta: list[Any] = orjson.loads(raw) if raw else []
    meta.extend([None] * (5 - len(meta)))
    at, msg_id, key, hdrs, letter = meta[:5]
    if msg_id is None:
        dedup = headers.get(MSG_ID)
        msg_id = decode_value(dedup) if dedup else None
    return Meta(at, msg_id, key, hdrs, letter)
