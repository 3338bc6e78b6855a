"""HTTP errors as JSON: ``{"error": {"type", "message", ...}}``.

:class:`ApiError` is raised by the endpoints; :func:`error_for` turns an
eventflux error (or a plain ``ValueError``/``TypeError`` of bad input) into the
status DESIGN 3.8 gives it; :func:`error_response` renders either.

Example::

    raise ApiError(404, "StreamNotFound", "stream 'account-1' does not exist")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..exceptions import (
    BusClosedError,
    BusUnavailableError,
    ConcurrencyError,
    DeadLetterNotFoundError,
    DuplicateEventError,
    EventfluxError,
    EventTooLargeError,
    SerializationError,
    StoreClosedError,
    StoreUnavailableError,
    StreamDeletedError,
)
from ..store import ANY, STREAM_EXISTS

__all__ = [
    "ApiError",
    "error_for",
    "error_response",
    "http_exception_handler",
    "unexpected_error_handler",
]

log = logging.getLogger("eventflux.server")

_STATUS_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestTooLarge",
    429: "TooManyConnections",
    503: "Unavailable",
}


class ApiError(Exception):
    """An HTTP error with its JSON body.

    ``type`` names the error (an eventflux error class name, or one of
    ``BadRequest``, ``Unauthorized``, ``Forbidden``, ``StreamNotFound``,
    ``RequestTooLarge``, ``TooManyConnections``...); ``extra`` adds fields to the
    ``error`` object; ``headers`` go on the response.
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": {"type": self.type, "message": self.message, **self.extra}}


def _wire_expected(expected: object) -> object:
    if expected is ANY:
        return "any"
    if expected is STREAM_EXISTS:
        return "exists"
    if expected == 0 and isinstance(expected, int):
        return 0
    return expected if isinstance(expected, int) else repr(expected)


def error_for(exc: BaseException) -> ApiError | None:
    """The API error for an eventflux error raised by the store or the bus, or
    None for anything else (a bug: the server answers 500 and logs it)."""
    name = type(exc).__name__
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ConcurrencyError):
        return ApiError(
            409,
            name,
            str(exc),
            stream=exc.stream,
            expected=_wire_expected(exc.expected),
            actual=exc.actual,
        )
    if isinstance(exc, DuplicateEventError | StreamDeletedError):
        return ApiError(409, name, str(exc))
    if isinstance(exc, EventTooLargeError):
        return ApiError(413, name, str(exc))
    if isinstance(exc, DeadLetterNotFoundError):
        return ApiError(404, name, str(exc))
    if isinstance(
        exc, StoreUnavailableError | StoreClosedError | BusUnavailableError | BusClosedError
    ):
        return ApiError(503, name, str(exc), headers={"Retry-After": "1"})
    if isinstance(exc, EventfluxError) and isinstance(exc, SerializationError | ValueError):
        # the input checks of the store and the bus (InvalidStreamName, InvalidSubject...)
        return ApiError(400, name, str(exc))
    return None


def error_response(error: ApiError) -> Response:
    """Render ``error`` as a JSON response."""
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) in the same JSON shape."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    kind = _STATUS_TYPES.get(status, "HTTPError")
    message = str(exc.detail) if exc.detail else kind
    if status == 404:
        message = f"no such path: {request.url.path}"
    headers = dict(exc.headers or {})
    return error_response(ApiError(status, kind, message, headers=headers))


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered with a generic 500."""
    mapped = error_for(exc)
    if mapped is not None:
        return error_response(mapped)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError(500, "InternalError", "the server failed; see its log"))
