"""PostgreSQL rules shared by the store, the read model and the token store.

Example::

    schema = check_schema_name("eventflux")       # returns it, or raises
"""

from __future__ import annotations

import re
from typing import Final

from ..exceptions import ConfigurationError

__all__ = ["check_schema_name", "quote_identifier"]

_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_schema_name(name: object, what: str = "schema name") -> str:
    """Return ``name`` if it is a plain PostgreSQL identifier (ASCII letters,
    digits and underscores, not starting with a digit, at most 63 characters),
    else raise :class:`~eventflux.ConfigurationError` (a ``ValueError``)."""
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{what} {name!r} must be 1 to 63 ASCII letters, digits or underscores, "
            "not starting with a digit"
        )
    return name


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (after :func:`check_schema_name`)."""
    return '"' + check_schema_name(name).replace('"', '""') + '"'
