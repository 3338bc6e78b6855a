"""The binary array parameters of the append statement, checked by the server."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from tests.servers.postgres import PostgresServer

from eventflux.store.postgres.arrays import (
    ByteaArray,
    Int4Array,
    Int8Array,
    TextArray,
    UuidArray,
    register,
)

pytestmark = pytest.mark.postgres

CASES = [
    (UuidArray, "uuid[]", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]),
    (TextArray, "text[]", ["a", "a", "", "ü 🎉 e\u0301", "x" * 5000, "a"]),
    (TextArray, "text[]", [None, "a", None, "", "b", None]),
    (ByteaArray, "bytea[]", [b"", b"\x00\x01\xff", b'{"a":1}', bytes(range(256)) * 40]),
    (Int8Array, "int8[]", [0, 1, -1, 2**63 - 1, -(2**63), 42]),
    (Int4Array, "int4[]", [0, 1, -1, 2**31 - 1, -(2**31)]),
]


@pytest.mark.parametrize(("cls", "sql_type", "values"), CASES, ids=lambda c: str(c)[:20])
def test_the_server_reads_back_what_was_sent(
    pg_server: PostgresServer, cls: type, sql_type: str, values: list[object]
) -> None:
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        register(conn)
        for sample in (values, values[:1], []):
            row = conn.execute(
                f"SELECT %b::{sql_type}, cardinality(%b::{sql_type})",
                (cls.of(sample), cls.of(sample)),  # type: ignore[attr-defined]
            ).fetchone()
            assert row == (sample, len(sample))
        # an unnest over them keeps the order
        rows = conn.execute(
            f"SELECT v FROM unnest(%b::{sql_type}) WITH ORDINALITY AS u(v, n) ORDER BY n",
            (cls.of(values),),  # type: ignore[attr-defined]
        ).fetchall()
        assert [r[0] for r in rows] == values


def test_out_of_range_ints_are_refused_before_sending() -> None:
    import struct

    with pytest.raises(struct.error):
        Int8Array.of([2**63])
    with pytest.raises(struct.error):
        Int4Array.of([2**31])
