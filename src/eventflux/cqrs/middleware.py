"""Ready-made middleware for both buses: logging, validation, authorization.

A middleware is ``async def mw(message, next) -> result``; it may inspect the
message, refuse it (raise), time it, or change the result. Example::

    bus = CommandBus(middleware=[
        logging_middleware(),
        authorization_middleware(lambda command, meta: "teller" in meta.get("roles", ())),
        validation_middleware(),
    ])
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import msgspec

from ..es.context import current_metadata
from ..exceptions import AggregateNotFoundError, DomainError, NotAuthorizedError, ValidationError
from .dispatcher import Middleware, Next

__all__ = ["authorization_middleware", "logging_middleware", "validation_middleware"]

#: errors that mean "the caller asked for something not allowed", logged as refusals
REFUSALS: tuple[type[Exception], ...] = (
    DomainError,
    AggregateNotFoundError,
    ValidationError,
    NotAuthorizedError,
)
Validator = Callable[[Any], Iterable[str] | str | None]
Policy = Callable[[Any, Mapping[str, Any]], bool | Awaitable[bool]]


def logging_middleware(
    logger: logging.Logger | None = None, *, level: int = logging.INFO
) -> Middleware:
    """Log each message: its type, correlation id, duration and outcome.

    Successes and refusals (domain errors, validation, authorization,
    unknown aggregates) log at ``level``, other failures at WARNING; the
    record's ``extra`` fields are ``message_type``, ``correlation_id``,
    ``user``, ``duration_ms`` and ``outcome``, for structured log handlers.
    """
    log = logger or logging.getLogger("eventflux.cqrs")

    async def log_message(message: Any, next: Next) -> Any:
        start = time.perf_counter()
        name = type(message).__name__
        try:
            result = await next(message)
        except REFUSALS as e:  # an expected outcome, not a fault
            if log.isEnabledFor(level):
                _emit(log, level, name, start, f"refused: {type(e).__name__}: {e}")
            raise
        except Exception as e:
            _emit(log, logging.WARNING, name, start, f"failed: {type(e).__name__}: {e}")
            raise
        if log.isEnabledFor(level):
            _emit(log, level, name, start, "ok")
        return result

    return log_message


def _emit(log: logging.Logger, level: int, name: str, start: float, outcome: str) -> None:
    meta = current_metadata()
    ms = (time.perf_counter() - start) * 1000
    log.log(
        level,
        "%s %s in %.1f ms",
        name,
        outcome,
        ms,
        extra={
            "message_type": name,
            "correlation_id": meta.get("correlation_id"),
            "user": meta.get("user"),
            "duration_ms": round(ms, 3),
            "outcome": outcome,
        },
    )


def check_fields(message: Any) -> list[str]:
    """Type and constraint errors of a dataclass or msgspec Struct message.

    Field annotations are checked strictly, including ``Annotated[int,
    msgspec.Meta(gt=0)]`` constraints; other objects pass.
    """
    if not (dataclasses.is_dataclass(message) or isinstance(message, msgspec.Struct)):
        return []
    try:
        msgspec.convert(msgspec.to_builtins(message), type(message))
    except msgspec.ValidationError as e:
        return [str(e)]
    except (TypeError, msgspec.MsgspecError):
        return []  # a field type msgspec cannot check: leave it to validate()
    return []


def _as_errors(outcome: Iterable[str] | str | None) -> list[str]:
    if outcome is None:
        return []
    if isinstance(outcome, str):
        return [outcome]
    return [str(x) for x in outcome]


def _run_check(check: Callable[..., Iterable[str] | str | None], *args: Any) -> list[str]:
    try:
        return _as_errors(check(*args))
    except ValueError as e:
        return [str(e)]


def validation_middleware(*validators: Validator) -> Middleware:
    """Refuse invalid messages with :class:`~eventflux.cqrs.ValidationError`.

    Checks, in order: the field types and constraints of dataclass/Struct
    messages (a failure there stops the checks); the message's own
    ``validate()`` method, if any; then each validator. A check reports
    problems by returning a string or a list of strings, or by raising
    ``ValueError``.
    """

    async def validate(message: Any, next: Next) -> Any:
        errors = check_fields(message)
        if errors:  # the rules below may rely on the field types
            raise ValidationError(message, errors)
        own = getattr(message, "validate", None)
        if callable(own):
            errors += _run_check(own)
        for validator in validators:
            errors += _run_check(validator, message)
        if errors:
            raise ValidationError(message, errors)
        return await next(message)

    return validate


def authorization_middleware(policy: Policy) -> Middleware:
    """Refuse messages the ``policy`` does not allow, with :class:`NotAuthorizedError`.

    ``policy(message, metadata)`` (sync or async) gets the ambient metadata
    (e.g. ``user`` and ``roles`` given to ``dispatch``) and returns True to allow.
    """

    async def authorize(message: Any, next: Next) -> Any:
        meta = current_metadata()
        allowed = policy(message, meta)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            who = meta.get("user") or "an anonymous caller"
            raise NotAuthorizedError(f"{who} may not run {type(message).__name__}")
        return await next(message)

    return authorize
