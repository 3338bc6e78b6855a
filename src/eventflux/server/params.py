"""Query parameters, checked the same way on every endpoint (400 when bad).

Example::

    limit = limit_param(request)               # default 100, 1 to 10,000
    after = int_param(request, "after", 0)      # a non-negative int
    backwards = bool_param(request, "backwards")
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from .errors import ApiError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_INT",
    "MAX_LIMIT",
    "bool_param",
    "int_param",
    "limit_param",
    "parse_nonnegative",
    "str_param",
    "types_param",
]

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 10_000
#: positions, versions and expected versions are 64-bit signed ints in every backend
MAX_INT: Final = 2**63 - 1


def _bad(name: str, message: str) -> ApiError:
    return ApiError(400, "BadRequest", f"query parameter {name!r} {message}", parameter=name)


def str_param(request: Request, name: str) -> str | None:
    """The one value of query parameter ``name``, or None when absent."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise _bad(name, "is given more than once")
    return values[0]


def parse_nonnegative(text: str, what: str, maximum: int = MAX_INT) -> int:
    """``text`` as a non-negative int no larger than ``maximum`` (digits only),
    else a 400 naming ``what``."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > maximum:
        raise ApiError(
            400, "BadRequest", f"{what} must be an integer from 0 to {maximum}, not {text!r}"
        )
    return int(text)


def int_param(
    request: Request, name: str, default: int | None, *, maximum: int = MAX_INT
) -> int | None:
    """A non-negative int query parameter."""
    raw = str_param(request, name)
    if raw is None:
        return default
    try:
        return parse_nonnegative(raw, f"query parameter {name!r}", maximum)
    except ApiError as e:
        e.extra["parameter"] = name
        raise


def limit_param(request: Request) -> int:
    """``limit``: default 100, from 1 to 10,000."""
    raw = str_param(request, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    text = raw.strip()
    digits = text.lstrip("0")
    if not text.isascii() or not text.isdigit() or len(digits) > 5:
        raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}, not {raw!r}")
    if not 1 <= int(text) <= MAX_LIMIT:
        raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}, not {raw!r}")
    return int(text)


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    """``true`` or ``false`` (any case)."""
    raw = str_param(request, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    raise _bad(name, f"must be true or false, not {raw!r}")


def types_param(request: Request) -> list[str] | None:
    """``types``: comma-separated event type names; None when absent or empty."""
    raw = str_param(request, "types")
    if raw is None:
        return None
    types = [t.strip() for t in raw.split(",") if t.strip()]
    return types or None
