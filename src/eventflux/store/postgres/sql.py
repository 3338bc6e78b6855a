"""The PostgreSQL store backend's schema, its migration, and its SQL statements.

Every table lives in one PostgreSQL schema (URL option ``schema``, default
``eventflux``), so several stores can share a database. The layout:

- ``head``: one row holding the last position handed out and the last commit
  time. Appending transactions update it as their last step before COMMIT,
  which orders them (see :mod:`eventflux.store.postgres.backend`).
- ``streams``: one row per stream (version, soft-delete mark, limits); appends
  lock the rows of their streams.
- ``events``: the log; ``position`` is the primary key.
- ``snapshots``: the latest snapshot of each stream.
- ``eventflux_schema``: the layout version, for migrations, and the store's
  id (a UUID drawn when the store is created; read models remember it).

Layouts: 1, the first; 2 adds ``events.correlation_id`` (the metadata's
correlation id, written by every append, with a partial index for
``read_all(correlation_id=...)``) and ``eventflux_schema.store_id``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

from ..._internal.postgres import check_schema_name

__all__ = ["SCHEMA_VERSION", "Statements", "channel_for", "correlation_key"]

SCHEMA_VERSION: Final = 2
#: First key of the advisory lock that serialises migrations of one schema.
MIGRATION_LOCK: Final = 0x4546_4C58  # "EFLX"


def correlation_key(correlation_id: str | None) -> str | None:
    """What ``events.correlation_id`` holds for an event's correlation id: the id
    up to its first NUL character (PostgreSQL text cannot hold one; readers
    compare the whole id with the metadata's)."""
    if correlation_id is None or "\x00" not in correlation_id:
        return correlation_id
    return correlation_id.split("\x00", 1)[0]


def channel_for(schema: str) -> str:
    """The LISTEN/NOTIFY channel of the store in ``schema`` (at most 63 bytes)."""
    return f"eventflux_{schema}"[:63]


_CREATE = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE {s}.head (
    id int PRIMARY KEY CHECK (id = 1),
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL
) WITH (fillfactor = 10);
INSERT INTO {s}.head VALUES (1, 0, '-infinity');
CREATE TABLE {s}.streams (
    name text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0,
    hidden_before bigint NOT NULL DEFAULT 1,
    hard_deleted boolean NOT NULL DEFAULT false,
    max_count bigint,
    max_age interval
) WITH (fillfactor = 70);
CREATE TABLE {s}.events (
    position bigint PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    stream text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    type text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    metadata bytea NOT NULL,
    schema_version int NOT NULL,
    recorded_at timestamptz NOT NULL,
    correlation_id text COLLATE "C",
    UNIQUE (stream, version)
);
CREATE INDEX events_correlation ON {s}.events (correlation_id, position)
    WHERE correlation_id IS NOT NULL;
CREATE TABLE {s}.snapshots (
    stream text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    type text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    schema_version int NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE TABLE {s}.eventflux_schema (version int NOT NULL, store_id text);
INSERT INTO {s}.eventflux_schema (version) VALUES ({version});
"""

#: Steps from layout version N to N + 1, each a list of statements (run in the
#: migration's transaction, under its lock; ``{s}`` is the quoted schema).
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        'ALTER TABLE {s}.events ADD COLUMN correlation_id text COLLATE "C"',
        "ALTER TABLE {s}.eventflux_schema ADD COLUMN store_id text",
        # Metadata is UTF-8 JSON (or empty). PostgreSQL's json type cannot turn
        # an escaped NUL into text, so rows holding one are done in Python
        # (``correlation_backfill``).
        "UPDATE {s}.events SET correlation_id = "
        "convert_from(metadata, 'UTF8')::json ->> 'correlation_id' "
        "WHERE length(metadata) > 0 "
        "AND position(convert_to('\\u0000', 'UTF8') IN metadata) = 0 "
        "AND json_typeof(convert_from(metadata, 'UTF8')::json -> 'correlation_id') = 'string'",
        "CREATE INDEX events_correlation ON {s}.events (correlation_id, position) "
        "WHERE correlation_id IS NOT NULL",
    ),
}

_COLUMNS = (
    "e.id, e.stream, e.version, e.position, e.type, e.data, e.metadata, "
    "e.schema_version, e.recorded_at"
)

# Streams whose retention limits apply: drop events older than the limits allow and
# move the stream's visibility mark. ``{now}`` is the time the limits are measured at.
_PRUNE = """
WITH s AS (
    SELECT name, version, hidden_before, max_count, max_age FROM {s}.streams
    WHERE name = ANY(%s::text[]) AND (max_count IS NOT NULL OR max_age IS NOT NULL)
), k AS (
    SELECT s.name, greatest(
        s.hidden_before,
        coalesce(s.version - s.max_count + 1, 0),
        CASE WHEN s.max_age IS NULL THEN 0 ELSE coalesce(
            (SELECT min(e.version) FROM {s}.events e
             WHERE e.stream = s.name AND e.version >= s.hidden_before
               AND e.recorded_at >= {now} - s.max_age),
            s.version + 1) END
    ) AS keep_from
    FROM s
), d AS (
    DELETE FROM {s}.events e USING k WHERE e.stream = k.name AND e.version < k.keep_from
)
UPDATE {s}.streams t SET hidden_before = k.keep_from
FROM k WHERE t.name = k.name AND t.hidden_before <> k.keep_from
"""

# Drawing the positions (``{cond}``: when to) and inserting the events at them.
_DRAW_AND_INSERT = (
    "h AS (UPDATE {s}.head SET position = position + %(n)b, "
    "recorded_at = greatest(recorded_at, clock_timestamp()) "
    "WHERE id = 1{cond} RETURNING position - %(n)b AS base, recorded_at), "
    "i AS (INSERT INTO {s}.events (position, id, stream, version, type, data, "
    "metadata, schema_version, recorded_at, correlation_id) "
    "SELECT h.base + u.ord, u.id, u.stream, u.version, u.type, u.data, u.meta, "
    "u.sv, h.recorded_at, u.cid FROM h, unnest(%(ids)b::uuid[], %(streams)b::text[], "
    "%(evs)b::int8[], %(types)b::text[], %(datas)b::bytea[], %(metas)b::bytea[], "
    "%(svs)b::int4[], %(cids)b::text[]) "
    "WITH ORDINALITY AS u(id, stream, version, type, data, meta, sv, cid, ord)) "
)
_COMMIT = (
    "WITH v AS (UPDATE {s}.streams t SET version = u.version "
    "FROM unnest(%(names)b::text[], %(versions)b::int8[]) AS u(name, version) "
    "WHERE t.name = u.name), " + _DRAW_AND_INSERT.replace("{cond}", "") + "SELECT base, "
    "recorded_at, pg_notify(%(channel)b, %(token)b) FROM h"
)

# A large group's rows are sent ahead, in slices, into a temporary table of the
# connection (so that no one statement carries tens of megabytes, and the event
# loop is never held for long while one is sent); the ordering step then draws
# the positions and inserts the staged rows.
_CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS eventflux_staging (ord int8, id uuid, stream text, "
    "version int8, type text, data bytea, metadata bytea, schema_version int4, "
    "correlation_id text) ON COMMIT DELETE ROWS"
)
_STAGE_ROWS = (
    "INSERT INTO pg_temp.eventflux_staging SELECT %(offset)b + u.ord, u.id, u.stream, "
    "u.version, u.type, u.data, u.meta, u.sv, u.cid FROM unnest(%(ids)b::uuid[], "
    "%(streams)b::text[], %(evs)b::int8[], %(types)b::text[], %(datas)b::bytea[], "
    "%(metas)b::bytea[], %(svs)b::int4[], %(cids)b::text[]) "
    "WITH ORDINALITY AS u(id, stream, version, type, data, meta, sv, cid, ord)"
)
_COMMIT_STAGED = (
    "WITH v AS (UPDATE {s}.streams t SET version = u.version "
    "FROM unnest(%(names)b::text[], %(versions)b::int8[]) AS u(name, version) "
    "WHERE t.name = u.name), "
    "h AS (UPDATE {s}.head SET position = position + %(n)b, "
    "recorded_at = greatest(recorded_at, clock_timestamp()) "
    "WHERE id = 1 RETURNING position - %(n)b AS base, recorded_at), "
    "i AS (INSERT INTO {s}.events (position, id, stream, version, type, data, "
    "metadata, schema_version, recorded_at, correlation_id) "
    "SELECT h.base + u.ord, u.id, u.stream, u.version, u.type, u.data, u.metadata, "
    "u.schema_version, h.recorded_at, u.correlation_id FROM h, pg_temp.eventflux_staging u) "
    "SELECT base, recorded_at, pg_notify(%(channel)b, %(token)b) FROM h"
)

# The whole append as one statement (so one transaction in autocommit mode), for
# the common case where the writer predicted the streams' versions right. ``v``
# creates or moves each stream only if it is as predicted (created only when
# predicted empty; not deleted, no retention limits); ``g`` says whether every
# stream was; ``h`` draws the positions only then. The streams are locked before
# the head row (``h`` cannot run before its condition, which reads ``v``), like
# in the general path. A misprediction must leave nothing behind, and a
# statement cannot roll itself back: it divides by zero instead, which aborts
# the statement and so the transaction (the writer then takes the general path).
_FAST = (
    "WITH p AS (SELECT * FROM unnest(%(names)b::text[], %(versions)b::int8[], "
    "%(pversions)b::int8[]) AS p(name, version, expected)), "
    "v AS (INSERT INTO {s}.streams AS t (name, version) SELECT name, version FROM p "
    "ORDER BY name ON CONFLICT (name) DO UPDATE SET version = excluded.version "
    "WHERE t.version = (SELECT p.expected FROM p WHERE p.name = t.name) "
    "AND NOT t.hard_deleted AND t.max_count IS NULL AND t.max_age IS NULL "
    "RETURNING t.name, t.xmax = 0 AS created), "
    "g AS (SELECT count(*) = cardinality(%(names)b::text[]) AS ok FROM v JOIN p "
    "ON p.name = v.name WHERE NOT v.created OR p.expected = 0), "
    + _DRAW_AND_INSERT.replace("{cond}", " AND (SELECT ok FROM g)")
    + "SELECT h.base, h.recorded_at, pg_notify(%(channel)b, %(token)b), 1 / g.ok::int "
    "FROM g LEFT JOIN h ON true"
)


@dataclass(frozen=True)
class Statements:
    """Every statement of one store, with its schema name filled in."""

    schema: str
    create: str
    migrations: dict[int, tuple[str, ...]]
    correlation_backfill: str
    correlation_fill: str
    set_store_id: str
    read_version: str
    lock_migration: str
    schema_tables: str
    ensure_streams: str
    lock_streams: str
    stored_ids: str
    commit_events: str
    commit_fast: str
    create_staging: str
    stage_rows: str
    commit_staged: str
    prune_after_append: str
    prune_now: str
    read_forwards: str
    read_backwards: str
    read_forwards_as_of: str
    read_backwards_as_of: str
    read_all: dict[tuple[bool, bool, bool], str]
    stream_version: str
    last_position: str
    head_position: str
    streams: str
    soft_delete: str
    hard_delete_stream: str
    hard_delete_events: str
    hard_delete_snapshot: str
    set_limits: str
    get_limits: str
    save_snapshot: str
    load_snapshot: str
    notify_channel: str

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        s = '"' + check_schema_name(schema) + '"'
        read = (
            f"SELECT {_COLUMNS} FROM {s}.streams t JOIN {s}.events e ON e.stream = t.name "
            "WHERE t.name = %(stream)s AND NOT t.hard_deleted "
            "AND e.version >= t.hidden_before "
            "AND (t.max_count IS NULL OR e.version > t.version - t.max_count) "
            "AND (t.max_age IS NULL OR e.recorded_at >= clock_timestamp() - t.max_age) "
        )
        as_of = "AND e.recorded_at <= %(as_of)s "
        forwards = "AND e.version >= %(from)s ORDER BY e.version LIMIT %(limit)s"
        backwards = "AND e.version <= %(from)s ORDER BY e.version DESC LIMIT %(limit)s"
        read_all: dict[tuple[bool, bool, bool], str] = {}
        for by_type, by_prefix, by_correlation in itertools.product((False, True), repeat=3):
            where = "e.position > %(after)s"
            if by_correlation:  # the partial index events_correlation
                where = "e.correlation_id = %(correlation_id)s AND " + where
            if by_type:
                where += " AND e.type = ANY(%(types)s::text[])"
            if by_prefix:
                where += " AND starts_with(e.stream, %(prefix)s)"
            # One statement, one snapshot: the head row says how far the log
            # is complete for this snapshot (see PostgresStoreBackend).
            read_all[by_type, by_prefix, by_correlation] = (
                f"SELECT h.position, {_COLUMNS.replace('e.', 'p.')} FROM {s}.head h "
                f"LEFT JOIN LATERAL (SELECT {_COLUMNS} FROM {s}.events e WHERE {where} "
                "ORDER BY e.position LIMIT %(limit)s) p ON true WHERE h.id = 1"
            )  # no outer ORDER BY (a sort per page): the reader checks the order
        return cls(
            schema=schema,
            create=_CREATE.format(s=s, version=SCHEMA_VERSION),
            migrations={
                n: tuple(step.format(s=s) for step in steps) for n, steps in MIGRATIONS.items()
            },
            correlation_backfill=(
                f"SELECT position, metadata FROM {s}.events WHERE length(metadata) > 0 "
                "AND position(convert_to('\\u0000', 'UTF8') IN metadata) > 0"
            ),
            correlation_fill=f"UPDATE {s}.events SET correlation_id = %s WHERE position = %s",
            set_store_id=(
                f"UPDATE {s}.eventflux_schema SET store_id = coalesce(store_id, %s) "
                "RETURNING store_id"
            ),
            read_version=f"SELECT version FROM {s}.eventflux_schema",
            lock_migration="SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            schema_tables=(
                "SELECT coalesce(array_agg(tablename::text ORDER BY tablename), '{}') "
                "FROM pg_tables WHERE schemaname = %s"
            ),
            ensure_streams=(
                f"INSERT INTO {s}.streams (name) SELECT unnest(%s::text[]) "
                "ON CONFLICT (name) DO NOTHING"
            ),
            lock_streams=(
                "SELECT name, version, hard_deleted, max_count IS NOT NULL OR max_age IS NOT NULL "
                f"FROM {s}.streams WHERE name = ANY(%s::text[]) ORDER BY name FOR UPDATE"
            ),
            stored_ids=f"SELECT id, stream, version, position FROM {s}.events WHERE id = ANY(%s)",
            # The ordering step. It runs as the last statement before COMMIT, in the
            # same round trip: the head row stays locked from here until the commit
            # is visible, so positions are handed out in commit order.
            commit_events=_COMMIT.format(s=s),
            # The whole append in one statement (see _FAST); positions are drawn last
            # in it, so the same holds.
            commit_fast=_FAST.format(s=s),
            create_staging=_CREATE_STAGING,
            stage_rows=_STAGE_ROWS,
            commit_staged=_COMMIT_STAGED.format(s=s),
            prune_after_append=_PRUNE.format(
                s=s, now=f"(SELECT recorded_at FROM {s}.head WHERE id = 1)"
            ),
            prune_now=_PRUNE.format(s=s, now="clock_timestamp()"),
            read_forwards=read + forwards,
            read_backwards=read + backwards,
            read_forwards_as_of=read + as_of + forwards,
            read_backwards_as_of=read + as_of + backwards,
            read_all=read_all,
            stream_version=f"SELECT version FROM {s}.streams WHERE name = %s",
            last_position=f"SELECT coalesce(max(position), 0) FROM {s}.events",
            head_position=f"SELECT position FROM {s}.head WHERE id = 1",
            streams=(
                f"SELECT name FROM {s}.streams WHERE starts_with(name, %s) "
                "AND NOT hard_deleted AND hidden_before <= version ORDER BY name"
            ),
            soft_delete=(
                f"UPDATE {s}.streams SET hidden_before = version + 1 "
                "WHERE name = %s AND NOT hard_deleted"
            ),
            hard_delete_stream=(
                f"INSERT INTO {s}.streams (name, hard_deleted) VALUES (%s, true) "
                "ON CONFLICT (name) DO UPDATE SET hard_deleted = true"
            ),
            hard_delete_events=f"DELETE FROM {s}.events WHERE stream = %s",
            hard_delete_snapshot=f"DELETE FROM {s}.snapshots WHERE stream = %s",
            set_limits=(
                f"INSERT INTO {s}.streams (name, max_count, max_age) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET max_count = excluded.max_count, "
                "max_age = excluded.max_age"
            ),
            get_limits=f"SELECT max_count, max_age FROM {s}.streams WHERE name = %s",
            save_snapshot=(
                f"INSERT INTO {s}.snapshots (stream, version, type, data, schema_version, "
                "recorded_at) VALUES (%s, %s, %s, %s, %s, clock_timestamp()) "
                "ON CONFLICT (stream) DO UPDATE SET version = excluded.version, "
                "type = excluded.type, data = excluded.data, "
                "schema_version = excluded.schema_version, recorded_at = excluded.recorded_at"
            ),
            load_snapshot=(
                "SELECT version, type, data, schema_version, recorded_at "
                f"FROM {s}.snapshots WHERE stream = %s"
            ),
            notify_channel=channel_for(schema),
        )
