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

    rel, body = letter_record(member, tracked, "payments", "ValueError: boom")
    await meta.put(rel, body)
"""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

from .message import DeadLetter

if TYPE_CHECKING:
    from ._nats_holdings import Tracked
    from ._nats_member import NatsMember

__all__ = ["dead_letter", "letter_group", "letter_record", "letter_subject"]

_LETTER_ID: Final = re.compile(r"([A-Za-z0-9_-]+):([0-9a-f]{8}):([0-9]+)")


def letter_subject(group: str, letter_id: str) -> str:
    """The meta subject (relative) of a letter."""
    return f"dlq.{group}.{letter_id}"


def letter_group(letter_id: str) -> str | None:
    """The group of a well-formed letter id, else None."""
    m = _LETTER_ID.fullmatch(letter_id)
    return None if m is None else m.group(1)


def letter_record(member: NatsMember, t: Tracked, group: str, error: str) -> tuple[str, bytes]:
    """``(relative subject, JSON body)`` of the letter for a dead delivery."""
    gid = member.gid
    letter_id = t.letter or f"{group}:{gid.rsplit('-', 1)[1]}:{t.seq}"
    headers = t.headers
    record = {
        "id": letter_id,
        "group": group,
        "pattern": member.pattern,
        "gid": gid,
        "subject": t.subject,
        "msg_id": t.msg_id,
        "key": t.key,
        "headers": headers.decode() if isinstance(headers, bytes) else None,
        "published_at": t.at,
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


def dead_letter(record: dict[str, Any], data: Any) -> DeadLetter:
    """The public view of a letter record (``data`` already decoded)."""
    return DeadLetter(
        record["id"],
        record["group"],
        record["subject"],
        data,
        record["msg_id"],
        record["key"],
        record["error"],
        int(record["deliveries"]),
        datetime.fromtimestamp(float(record["dead_at"]), UTC),
    )
