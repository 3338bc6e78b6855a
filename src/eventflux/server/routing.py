"""The path parameter type of stream names, subjects and letter ids: any text,
slashes and line breaks included (Starlette's ``path`` stops at a line break,
which stream names may not hold but requests may send: they get a 400 from
the name rules, not a 404).

Example::

    Route("/api/streams/{stream:name}", read_stream)
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

__all__ = ["NAME", "NameConvertor"]

#: the convertor's name in route paths: ``{stream:name}``
NAME = "name"


class NameConvertor(Convertor[str]):
    """Matches any text, including ``/`` and line breaks."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor(NAME, NameConvertor())
