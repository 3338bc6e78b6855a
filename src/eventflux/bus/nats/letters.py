"""Dead letters of the NATS bus, kept in the meta stream.

A letter is one message on ``dlq.<group>.<letter id>``: a JSON record with
the message (subject, payload, id, key, headers, publish time), the group
(name, pattern and group id), the last error, the delivery count, the time it
died, the stream sequence it came from and whether a retry is in flight. The
letter id is ``<group>:<pattern hash>:<stream sequence>``, so dead-lettering
the same delivery twice (a crash between writing the letter and settling the
message) overwrites one letter instead of making two. A retried message
carries its letter id in a header; dying again overwrites the same letter,
being handled deletes it.

Example::

    rel, body = letter_record(gid, "orders.*", delivery, "payments", "ValueError: boom")
    await meta.put(rel, body)
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any, Final

import orjson

from ..backend import StoredLetter
from .delivery import NatsDelivery

__all__ = ["letter_group", "letter_record", "letter_subject", "payload", "stored_letter"]

_LETTER_ID: Final = re.compile(r"([A-Za-z0-9_-]+):([0-9a-f]{8}):([0-9]+)")


def letter_subject(group: str, letter_id: str) -> str:
    """The meta subject (relative) of a letter."""
    return f"dlq.{group}.{letter_id}"


def letter_group(letter_id: str) -> str | None:
    """The group of a well-formed letter id, else None."""
    m = _LETTER_ID.fullmatch(letter_id)
    return None if m is None else m.group(1)


def letter_record(
    gid: str, pattern: str, t: NatsDelivery, group: str, error: str
) -> tuple[str, bytes]:
    """``(relative subject, JSON body)`` of the letter for a dead delivery of the
    group ``gid`` (``group`` on ``pattern``)."""
    letter_id = t.letter or f"{group}:{gid.rsplit('-', 1)[1]}:{t.seq}"
    headers = t.headers
    record = {
        "id": letter_id,
        "group": group,
        "pattern": pattern,
        "gid": gid,
        "subject": t.subject,
        "msg_id": t.msg_id,
        "key": t.key,
        "headers": headers.decode() if isinstance(headers, bytes) else None,
        "published_at": t.published_at,
        "error": error,
        "deliveries": t.attempt,
        "dead_at": time.time(),
        "seq": t.seq,
        "retrying": False,
        "data": base64.b64encode(t.data).decode(),
    }
    return letter_subject(group, letter_id), orjson.dumps(record)


def payload(record: dict[str, Any]) -> bytes:
    """The message payload kept in a letter."""
    return base64.b64decode(record["data"])


def stored_letter(record: dict[str, Any]) -> StoredLetter:
    """The backend interface's view of a letter record."""
    return StoredLetter(
        record["id"],
        record["group"],
        record["subject"],
        payload(record),
        record["msg_id"],
        record["key"],
        record["error"],
        int(record["deliveries"]),
        float(record["dead_at"]),
    )
