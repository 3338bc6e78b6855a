"""The JSON shapes of the API: events, dead letters and messages out; append
and publish bodies in (checked field by field, 400 when wrong).

Example::

    events, expected, explicit_ids = parse_append(body)
    json_response({"events": [event_json(e) for e in events]})
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from typing import Any, Final

from ..bus import DeadLetter, Message
from ..events import NewEvent, RecordedEvent
from ..store import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion
from .errors import ApiError
from .params import MAX_INT

__all__ = [
    "PublishRequest",
    "event_json",
    "letter_json",
    "message_json",
    "parse_append",
    "parse_publish",
]

_EXPECTED_NAMES: Final[dict[str, ExpectedVersion]] = {
    "any": ANY,
    "no_stream": NO_STREAM,
    "exists": STREAM_EXISTS,
}
#: header names: printable ASCII without spaces or colons (safe on every bus backend)
_HEADER_NAME: Final = re.compile(r"[!-9;-~]{1,255}")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f]")


def event_json(e: RecordedEvent) -> dict[str, Any]:
    """An event as the API shows it (``recorded_at`` in ISO 8601 UTC)."""
    return {
        "id": e.id,
        "stream": e.stream,
        "version": e.version,
        "position": e.position,
        "type": e.type,
        "data": e.data,
        "metadata": e.metadata,
        "recorded_at": e.recorded_at,
    }


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter (raw undecodable data as ``{"base64": ...}``)."""
    data = letter.data
    if isinstance(data, bytes):
        data = {"base64": base64.b64encode(data).decode()}
    return {
        "id": letter.id,
        "group": letter.group,
        "subject": letter.subject,
        "msg_id": letter.msg_id,
        "key": letter.key,
        "error": letter.error,
        "deliveries": letter.deliveries,
        "dead_at": letter.dead_at,
        "data": data,
    }


def message_json(msg: Message) -> dict[str, Any]:
    """A delivered message, as the WebSocket sends it."""
    return {
        "subject": msg.subject,
        "data": msg.data,
        "msg_id": msg.msg_id,
        "key": msg.key,
        "headers": dict(msg.headers),
        "attempt": msg.attempt,
        "published_at": msg.published_at,
        "group": msg.group,
    }


def _bad(message: str, **extra: Any) -> ApiError:
    return ApiError(400, "BadRequest", message, **extra)


def _object(body: object, what: str) -> dict[str, Any]:
    if type(body) is not dict:
        raise _bad(f"{what} must be a JSON object")
    return body


def _optional_object(value: object, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    return _object(value, what)


def _expected(value: object) -> ExpectedVersion:
    if value is None:
        return ANY
    if isinstance(value, str) and value in _EXPECTED_NAMES:
        return _EXPECTED_NAMES[value]
    if type(value) is int and 0 <= value <= MAX_INT:
        return value
    raise _bad(
        'expected_version must be a non-negative integer or "any", "no_stream" or "exists", '
        f"not {value!r}"[:300]
    )


def _event(index: int, item: object) -> tuple[NewEvent, bool]:
    where = f"events[{index}]"
    ev = _object(item, where)
    type_name = ev.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise _bad(f"{where}.type must be a non-empty string")
    if "data" not in ev:
        raise _bad(f"{where}.data is required (a JSON object)")
    data = _object(ev["data"], f"{where}.data")
    metadata = _optional_object(ev.get("metadata"), f"{where}.metadata")
    raw_id = ev.get("id")
    if raw_id is None:
        return NewEvent(type_name, data, metadata), False
    if not isinstance(raw_id, str) or len(raw_id) > 64:
        raise _bad(f"{where}.id must be a UUID string")
    try:
        event_id = uuid.UUID(raw_id)
    except ValueError:
        raise _bad(f"{where}.id must be a UUID string, not {raw_id!r}") from None
    return NewEvent(type_name, data, metadata, id=event_id), True


def parse_append(body: object) -> tuple[list[NewEvent], ExpectedVersion, bool]:
    """The events and expected version of an append body, and whether every
    event carries its own id (only then can the append be a retry)."""
    request = _object(body, "the body")
    items = request.get("events")
    if not isinstance(items, list) or not items:
        raise _bad("events must be a non-empty array of events")
    events: list[NewEvent] = []
    explicit = True
    for i, item in enumerate(items):
        event, has_id = _event(i, item)
        events.append(event)
        explicit = explicit and has_id
    return events, _expected(request.get("expected_version")), explicit


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """A checked publish body."""

    data: dict[str, Any]
    msg_id: str | None
    key: str | None
    headers: dict[str, str] | None


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or not value.isprintable():
        raise _bad(f"{name} must be a string of 1 to 255 printable characters")
    return value


def _headers(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    headers = _object(value, "headers")
    for k, v in headers.items():
        if not _HEADER_NAME.fullmatch(k):
            raise _bad(
                f"header name {k!r} must be 1 to 255 printable ASCII characters, "
                "without spaces or colons"[:300]
            )
        if not isinstance(v, str) or len(v) > 4096 or _CONTROL.search(v):
            raise _bad(f"header {k!r} must be a string without control characters")
    return headers


def parse_publish(body: object) -> PublishRequest:
    """The fields of a publish body: ``data`` (an object), optional ``msg_id``,
    ``key`` and ``headers`` (an object of strings)."""
    request = _object(body, "the body")
    if "data" not in request:
        raise _bad("data is required (a JSON object)")
    return PublishRequest(
        _object(request["data"], "data"),
        _text(request.get("msg_id"), "msg_id"),
        _text(request.get("key"), "key"),
        _headers(request.get("headers")),
    )
