"""PostgreSQL binary arrays built in one pass, for the append statement's ``unnest``.

psycopg dumps a list parameter element by element through its generic
(pure Python) array dumper; for the seven column arrays of a 100-event append
that cost more client time than everything else in the append together
(``benchmarks/store.py --backend postgres``). The arrays here hold
one-dimensional values of a single known type (NULLs only in text arrays), so their binary
form (the server's ``array_recv`` layout) is a fixed header followed by
length-prefixed elements, which ``struct`` and ``bytes.join`` build in C.

Each wrapper type carries its array's type oid; :func:`register` teaches a
connection to send them as binary parameters.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import ClassVar, Final, cast
from uuid import UUID

from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.pq import Format

__all__ = ["ByteaArray", "Int4Array", "Int8Array", "TextArray", "UuidArray", "register"]

_HEADER: Final = struct.Struct(">iiiii")  # ndim, has-nulls flag, element oid, size, lower bound
_EMPTY: Final = struct.Struct(">iii")  # ndim 0, has-nulls flag, element oid


def _header(element_oid: int, n: int, nulls: bool = False) -> bytes:
    if n == 0:
        return _EMPTY.pack(0, 0, element_oid)
    return _HEADER.pack(1, int(nulls), element_oid, n, 1)


_NULL: Final = (-1).to_bytes(4, signed=True)  # the length of a NULL element


class _Array(bytes):
    """The binary form of an array parameter; subclasses fix the type."""

    element_oid: ClassVar[int]
    array_oid: ClassVar[int]


def _length_prefixed(element_oid: int, n: int, elements: Iterable[bytes]) -> bytes:
    """The binary form of ``n`` variable-width elements (each after its length)."""
    parts = [_header(element_oid, n)]
    for b in elements:
        parts.append(len(b).to_bytes(4))
        parts.append(b)
    return b"".join(parts)


class UuidArray(_Array):
    element_oid, array_oid = 2950, 2951

    @classmethod
    def of(cls, values: Sequence[UUID]) -> UuidArray:
        return cls(
            _length_prefixed(cls.element_oid, len(values), (u.int.to_bytes(16) for u in values))
        )


class TextArray(_Array):
    """A text array; None elements are NULLs."""

    element_oid, array_oid = 25, 1009

    @classmethod
    def of(cls, values: Sequence[str | None]) -> TextArray:
        encoded: dict[str, bytes] = {}  # names repeat: a batch is mostly one stream
        nulls = False
        for s in values:
            if s is None:
                nulls = True
            elif s not in encoded:
                encoded[s] = s.encode()
        if not nulls:
            items = cast("Sequence[str]", values)
            return cls(
                _length_prefixed(cls.element_oid, len(values), map(encoded.__getitem__, items))
            )
        parts = [_header(cls.element_oid, len(values), nulls=True)]
        for s in values:
            if s is None:
                parts.append(_NULL)
            else:
                b = encoded[s]
                parts.append(len(b).to_bytes(4))
                parts.append(b)
        return cls(b"".join(parts))


class ByteaArray(_Array):
    element_oid, array_oid = 17, 1001

    @classmethod
    def of(cls, values: Sequence[bytes]) -> ByteaArray:
        return cls(_length_prefixed(cls.element_oid, len(values), values))


def _fixed_width(element_oid: int, width: str, values: Sequence[int]) -> bytes:
    """The binary form of ints of one fixed width (``q``: 8 bytes, ``i``: 4)."""
    n = len(values)
    flat: list[int] = [struct.calcsize(width), 0] * n
    flat[1::2] = values
    return _header(element_oid, n) + struct.pack(">" + ("i" + width) * n, *flat)


class Int8Array(_Array):
    element_oid, array_oid = 20, 1016

    @classmethod
    def of(cls, values: Sequence[int]) -> Int8Array:
        return cls(_fixed_width(cls.element_oid, "q", values))


class Int4Array(_Array):
    element_oid, array_oid = 23, 1007

    @classmethod
    def of(cls, values: Sequence[int]) -> Int4Array:
        return cls(_fixed_width(cls.element_oid, "i", values))


def _dumper_for(array: type[_Array]) -> type[Dumper]:
    class _ArrayDumper(Dumper):
        format = Format.BINARY
        oid = array.array_oid

        def dump(self, obj: _Array) -> bytes:
            return obj  # already the binary form

    _ArrayDumper.__name__ = f"{array.__name__}Dumper"
    return _ArrayDumper


_DUMPERS: Final = {
    cls: _dumper_for(cls) for cls in (UuidArray, TextArray, ByteaArray, Int8Array, Int4Array)
}


def register(context: AdaptContext) -> None:
    """Let ``context`` (a connection) send the array types of this module."""
    for cls, dumper in _DUMPERS.items():
        context.adapters.register_dumper(cls, dumper)
