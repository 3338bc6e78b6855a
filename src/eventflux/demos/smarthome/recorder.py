"""The hub's recorder: every device message on the bus becomes an event in the store.

A message on ``home.<room>.<device>.<event>`` is appended to the device's
stream ``home-<room>.<device>`` as an event of type ``home.<event>``; its data
is the message's data with the ``subject`` and the ``entity_id`` added. The
event's id is the message's id, so a redelivered message is stored once, and
a message and its event are one hop of a causal chain: the event keeps the
message's correlation id and its causation id (the command it answers, when
it answers one) and actor. Commands (``*.command``) are not recorded here:
the rules engine records those it sends.

Example::

    @app.subscribe("home.>", group="smarthome-recorder")
    async def record(msg: Message, ctx: Context) -> None:
        await recorder.record(ctx.store, msg)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from ...bus import Message
from ...context import ACTOR, CAUSATION_ID, CORRELATION_ID, replace_metadata
from ...events import NewEvent
from ...exceptions import DuplicateEventError
from ...store import EventStore
from .rules.world import DEVICE_PREFIX, device_stream

__all__ = ["OTHER_STREAM", "event_of", "record"]

#: the stream of messages under ``home.`` that name no device
OTHER_STREAM: Final = f"{DEVICE_PREFIX}bus"


def _event_id(msg_id: str) -> UUID:
    try:
        return UUID(msg_id)
    except ValueError:
        return uuid5(NAMESPACE_URL, f"eventflux:smarthome:message:{msg_id}")


def event_of(msg: Message) -> tuple[str, NewEvent] | None:
    """The stream and event a device message is recorded as (None for commands)."""
    parts = msg.subject.split(".")
    if parts[-1] == "command":
        return None
    payload = msg.data if isinstance(msg.data, Mapping) else {"value": msg.data}
    entity_id: str | None = None
    stream = OTHER_STREAM
    if len(parts) == 4:
        entity_id = f"{parts[1]}.{parts[2]}"
        stream = device_stream(entity_id)
    data: dict[str, Any] = {**payload, "subject": msg.subject, "entity_id": entity_id}
    headers = msg.headers
    metadata: dict[str, Any] = {CORRELATION_ID: headers.get(CORRELATION_ID) or msg.msg_id}
    for key in (CAUSATION_ID, ACTOR):
        if headers.get(key):
            metadata[key] = headers[key]
    return stream, NewEvent(f"home.{parts[-1]}", data, metadata, _event_id(msg.msg_id))


async def record(store: EventStore, msg: Message) -> None:
    """Append ``msg`` to its device's stream, once."""
    found = event_of(msg)
    if found is None:
        return
    stream, event = found
    with replace_metadata({}):  # the event carries the message's own ids, nothing ambient
        try:
            await store.append(stream, [event])
        except DuplicateEventError:
            pass  # stored before, in a batch of its own: nothing to do
