"""Where a PostgreSQL read model lives, and the statements it runs there.

Helpers of the PostgreSQL backend take the small :class:`PgPlace` context
(connection string, schema, timeouts, prepared statement texts), never the
backend itself. Every name that goes into SQL is quoted with
:class:`psycopg.sql.Identifier`; values always travel as parameters.

Example::

    place = PgPlace.of("postgresql://app@db/shop", "read", connect_timeout=10.0,
                       lock_timeout=30.0)
    raise place.unavailable(error)   # names the server and the schema, never the password
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from ...._internal.postgres import check_schema_name as check_identifier
from ....exceptions import ConfigurationError, StoreUnavailableError
from ..backend import CHECKPOINTS_TABLE

__all__ = [
    "RESET_LOCK_TIMEOUT",
    "SCHEMA_LOCK",
    "SET_LOCK_TIMEOUT",
    "SWAP_LOCK",
    "PgPlace",
    "Statements",
    "check_schema_name",
    "milliseconds",
    "reason",
]

#: First key of the advisory lock that serializes the creation of one schema.
SCHEMA_LOCK: Final = 0x4546_524D  # "EFRM"
#: First key of the advisory lock between a swap (exclusive) and snapshots (shared).
SWAP_LOCK: Final = 0x4546_5357  # "EFSW"
SET_LOCK_TIMEOUT: Final = "SELECT set_config('lock_timeout', %s, true)"
RESET_LOCK_TIMEOUT: Final = "SET LOCAL lock_timeout TO DEFAULT"


def check_schema_name(name: object) -> str:
    """A read model's schema name (the one PostgreSQL identifier rule)."""
    return check_identifier(name, "read model schema name")


def reason(error: BaseException) -> str:
    """The driver's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def milliseconds(seconds: float) -> str:
    """A duration as a PostgreSQL setting value (``lock_timeout``)."""
    return f"{max(1, round(seconds * 1000))}ms"


@dataclass(frozen=True, slots=True)
class Statements:
    """The checkpoint statements of one schema (names quoted once, here)."""

    create: sql.Composed
    has_store_id: sql.Composed
    add_store_id: sql.Composed
    insert: sql.Composed
    lock: sql.Composed
    save: sql.Composed
    read_all: sql.Composed
    read_stores: sql.Composed
    exists: sql.Composed
    search_path: sql.Composed

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        table = sql.Identifier(schema, CHECKPOINTS_TABLE)
        return cls(
            create=sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                "position bigint NOT NULL, updated_at timestamptz NOT NULL, store_id text)"
            ).format(table),
            # a checkpoints table made by an earlier version gets the store id column;
            # looked for first: ALTER TABLE would wait for every runner's row lock
            has_store_id=sql.SQL(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass({}) "
                "AND attname = 'store_id' AND NOT attisdropped"
            ).format(sql.Literal(f'"{schema}".{CHECKPOINTS_TABLE}')),
            add_store_id=sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS store_id text").format(
                table
            ),
            insert=sql.SQL(
                "INSERT INTO {} (name, position, updated_at) VALUES (%s, 0, now()) "
                "ON CONFLICT (name) DO NOTHING"
            ).format(table),
            lock=sql.SQL("SELECT position, store_id FROM {} WHERE name = %s FOR UPDATE").format(
                table
            ),
            save=sql.SQL(
                "UPDATE {} SET position = %s, store_id = %s, updated_at = now() WHERE name = %s"
            ).format(table),
            read_all=sql.SQL("SELECT name, position FROM {}").format(table),
            read_stores=sql.SQL("SELECT name, store_id FROM {} WHERE store_id IS NOT NULL").format(
                table
            ),
            exists=sql.SQL("SELECT to_regclass({}) IS NOT NULL").format(
                sql.Literal(f'"{schema}".{CHECKPOINTS_TABLE}')
            ),
            search_path=sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)),
        )


@dataclass(frozen=True, slots=True)
class PgPlace:
    """A read model's database and schema, how to connect, how long to wait.

    ``where`` (``host:port/database``) and ``url`` never hold the password.
    ``scratch`` marks a rebuild's scratch schema (speed over durability).
    """

    conninfo: str
    schema: str
    where: str
    url: str
    connect_timeout: float
    lock_timeout: float
    statements: Statements
    scratch: bool = False

    @classmethod
    def of(
        cls,
        dsn_or_url: str,
        schema: str,
        *,
        connect_timeout: float,
        lock_timeout: float,
        scratch: bool = False,
    ) -> PgPlace:
        """Check the settings and parse the connection string (without connecting)."""
        check_schema_name(schema)
        try:
            params = pg_conninfo.conninfo_to_dict(dsn_or_url)
        except psycopg.Error as e:
            raise ConfigurationError(
                f"bad PostgreSQL connection string ({reason(e)}); give the schema with "
                "schema=NAME, or in the URL as ?schema=NAME"
            ) from None
        if not connect_timeout > 0 or not lock_timeout > 0:
            raise ConfigurationError("connect_timeout and lock_timeout must be positive")
        host = params.get("host") or params.get("hostaddr") or "localhost"
        port = params.get("port") or 5432
        database = params.get("dbname") or params.get("user") or ""
        where = f"{host}:{port}/{database}"
        user = params.get("user")
        login = f"{user}@" if user else ""
        url = f"postgresql://{login}{where}?schema={schema}"
        return cls(
            dsn_or_url,
            schema,
            where,
            url,
            connect_timeout,
            lock_timeout,
            Statements.for_schema(schema),
            scratch,
        )

    @property
    def libpq_timeout(self) -> int:
        """``connect_timeout`` as libpq counts it: whole seconds, at least 2."""
        return max(2, math.ceil(self.connect_timeout))

    def unavailable(self, error: BaseException) -> StoreUnavailableError:
        """The error raised when the database fails the read model."""
        return StoreUnavailableError(
            f"the read model in PostgreSQL schema {self.schema!r} at {self.where} "
            f"failed: {reason(error)}"
        )

    def cannot_connect(self, error: BaseException) -> StoreUnavailableError:
        """The error raised when no connection can be made."""
        return StoreUnavailableError(
            f"cannot connect to PostgreSQL at {self.where} for the read model in "
            f"schema {self.schema!r}: {reason(error)}"
        )
