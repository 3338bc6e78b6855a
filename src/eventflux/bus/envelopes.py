"""From ``publish`` arguments to :class:`~eventflux.bus.backend.Envelope` s: checks,
encoding, and the part of publish dedup every backend shares.

Example::

    env = make_envelope(default_codec, "orders.created", {"id": 1}, "order-1", None, None, now)
    batch = first_of_each_id([env, env])   # one envelope: the repeat is dropped
"""

from __future__ import annotations

from collections.abc import Mapping

from ..codec import Codec
from ..exceptions import SerializationError
from .backend import Envelope
from .message import NO_HEADERS, new_msg_id
from .subjects import validate_subject
from .subscription import check_text

__all__ = ["first_of_each_id", "make_envelope"]


def make_envelope(
    codec: Codec,
    subject: object,
    data: object,
    msg_id: object,
    key: object,
    headers: object,
    now: float,
) -> Envelope:
    """Check one message and encode its payload.

    Raises :class:`~eventflux.InvalidSubject`, :class:`~eventflux.SerializationError`
    (a ``TypeError``) for a payload that is neither a JSON-compatible mapping nor
    a registered event, and ``TypeError``/``ValueError`` for bad ids, keys or
    headers.
    """
    subject = validate_subject(subject)
    if type(data) is dict or isinstance(data, Mapping):
        raw, _ = codec.encode_data("", data)
    else:
        type_name = codec.type_name_of(data)
        if type_name is None:
            raise SerializationError(
                "message data must be a JSON-compatible mapping with str keys or an "
                f"instance of a registered event class, not {type(data).__name__}"
            )
        raw, _ = codec.encode_data(type_name, data)
    if msg_id is None and key is None and headers is None:  # the common, fast case
        return Envelope(subject, raw, new_msg_id(), None, NO_HEADERS, now, False)
    given = check_text("msg_id", msg_id)
    hdrs: Mapping[str, str] = NO_HEADERS
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise TypeError(f"headers must be a mapping of str to str, not {headers!r}")
        for k, v in headers.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"headers must map str to str, got {k!r}: {v!r}")
        hdrs = dict(headers)
    return Envelope(
        subject,
        raw,
        given if given is not None else new_msg_id(),
        check_text("key", key),
        hdrs,
        now,
        given is not None,
    )


def first_of_each_id(envelopes: list[Envelope]) -> list[Envelope]:
    """The batch without the envelopes whose explicit id came earlier in it (a
    repeat inside one batch is a duplicate, as one published before would be)."""
    seen: set[str] = set()
    out: list[Envelope] | None = None
    for i, env in enumerate(envelopes):
        if not env.explicit_id:
            if out is not None:
                out.append(env)
            continue
        if env.msg_id in seen:
            if out is None:
                out = envelopes[:i]
            continue
        seen.add(env.msg_id)
        if out is not None:
            out.append(env)
    return envelopes if out is None else out
