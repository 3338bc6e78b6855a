"""Subject and group-name rules, and subject patterns.

A subject is dot-separated, non-empty, printable tokens without spaces, such
as ``orders.created``. A subscription may use wildcards as whole tokens: ``*``
matches exactly one token, a final ``>`` one or more. Publishing to a subject
with a wildcard is an error. Group names match ``[A-Za-z0-9_-]+``.

Example::

    matches("orders.*", "orders.created")      # True
    matches("orders.>", "orders.eu.created")   # True
    matches("orders.>", "orders")              # False
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from ..exceptions import InvalidGroupName, InvalidSubject

__all__ = ["compile_pattern", "matches", "validate_group", "validate_subject"]

_GROUP: Final = re.compile(r"[A-Za-z0-9_-]+")
_CACHE_LIMIT: Final = 10_000
_valid_subjects: dict[str, None] = {}
_valid_patterns: dict[str, None] = {}


def validate_subject(subject: object, *, pattern: bool = False) -> str:
    """Return ``subject`` if valid, else raise :class:`InvalidSubject`.

    With ``pattern=True`` the wildcards ``*`` (one token) and ``>`` (the rest,
    last token only) are allowed, as whole tokens.
    """
    cache = _valid_patterns if pattern else _valid_subjects
    if subject in cache:
        return str(subject)
    if not isinstance(subject, str):
        raise InvalidSubject(f"a subject must be a str, not {type(subject).__name__}")
    if not subject:
        raise InvalidSubject("a subject must not be empty")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise InvalidSubject(f"subject {subject!r} has an empty token")
        if " " in token or not token.isprintable():
            raise InvalidSubject(
                f"subject {subject!r} has a space or a non-printable character in {token!r}"
            )
        if "*" in token or ">" in token:
            if not pattern:
                raise InvalidSubject(
                    f"subject {subject!r} has a wildcard; wildcards are for subscriptions only"
                )
            if token not in ("*", ">"):
                raise InvalidSubject(
                    f"subject pattern {subject!r}: wildcards must be whole tokens, not {token!r}"
                )
            if token == ">" and i != len(tokens) - 1:
                raise InvalidSubject(f"subject pattern {subject!r}: '>' must be the last token")
    if len(cache) < _CACHE_LIMIT:
        cache[subject] = None
    return subject


def validate_group(group: object) -> str:
    """Return ``group`` if it matches ``[A-Za-z0-9_-]+``, else raise InvalidGroupName."""
    if not isinstance(group, str):
        raise InvalidGroupName(f"a group name must be a str, not {type(group).__name__}")
    if _GROUP.fullmatch(group) is None:
        raise InvalidGroupName(
            f"group name {group!r} is not valid; use letters, digits, '_' and '-' only"
        )
    return group


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A fast predicate telling whether a subject matches ``pattern``."""
    validate_subject(pattern, pattern=True)
    if "*" not in pattern and ">" not in pattern:
        return pattern.__eq__
    parts: list[str] = []
    for token in pattern.split("."):
        if token == "*":
            parts.append(r"[^.]+")
        elif token == ">":
            parts.append(r".+")
        else:
            parts.append(re.escape(token))
    regex = re.compile(r"\.".join(parts))

    def match(subject: str) -> bool:
        return regex.fullmatch(subject) is not None

    return match


def matches(pattern: str, subject: str) -> bool:
    """True if ``subject`` matches the subscription ``pattern``."""
    return compile_pattern(pattern)(subject)
