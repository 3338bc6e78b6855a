"""Read models' ``:name`` placeholders, translated for psycopg.

Projection SQL is written once, with ``:name`` placeholders and a mapping of
values (SQLite's own style). psycopg wants ``%(name)s`` and a literal ``%``
written ``%%``. :func:`to_pyformat` rewrites a statement accordingly, leaving
alone what only looks like a placeholder: ``::`` casts, string literals
(``'...'``, ``E'...'``, ``$tag$...$tag$``), quoted identifiers and comments.
The result is cached per statement text: a projection's statements are
translated once.

Example::

    to_pyformat("SELECT x::text FROM t WHERE k = :k AND s LIKE 'a:b%'")
    # "SELECT x::text FROM t WHERE k = %(k)s AND s LIKE 'a:b%%'"
"""

from __future__ import annotations

import functools
import re
from typing import Final

__all__ = ["to_pyformat"]

_TOKENS: Final = re.compile(
    r"""
      (?P<quoted>
          (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'      # E'...' (backslash escapes)
        | '(?:[^']|'')*'                         # '...'
        | "(?:[^"]|"")*"                         # "identifier"
        | --[^\n]*                               # -- comment
        | /\*.*?\*/                              # /* comment */
        | (?<![\w$])\$\$.*?\$\$                  # $$...$$
        | (?<![\w$])\$(?P<tag>[A-Za-z_]\w*)\$.*?\$(?P=tag)\$   # $tag$...$tag$
      )
    | (?P<cast>::)
    | :(?P<name>[A-Za-z_]\w*)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


def _replace(match: re.Match[str]) -> str:
    if match["quoted"] is not None:
        return match["quoted"].replace("%", "%%")
    if match["cast"] is not None:
        return "::"
    if match["name"] is not None:
        return f"%({match['name']})s"
    return "%%"


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``sql`` with ``:name`` placeholders as ``%(name)s`` and every ``%`` doubled."""
    return _TOKENS.sub(_replace, sql)
