"""The tables of the SQLite bus (all named ``bus_*``, so the file can hold other
tables too) and the schedule sentinel of a queue row.

One table, ``bus_queue``, holds one row per (group, message): publishing
fans a message out to every group whose pattern matches. ``avail_at`` is the
whole schedule of a row:

* ``0``: ready, fetched oldest id first;
* a time: leased until then (``owner`` is set), or waiting for a redelivery
  (``owner`` is NULL); once past, the next fetch of its group makes it ready
  again (how a crashed member's leases come back);
* :data:`PARKED`: behind an older message of the same key in its group.
  When that head is acked or dead-lettered, the oldest parked row of the key
  becomes ready. So at most one message per key and group is ever in
  flight, whatever the number of members or processes.

``bus_members`` lists the members of every handle on the file, each with the
time its handle last vouched for it (every few seconds, see
:data:`MEMBER_TTL`): what ``bus.groups()`` counts as live members. The table
was added without a schema version change (older versions never read it).
"""

from __future__ import annotations

from typing import Final

__all__ = ["MEMBER_FORGET", "MEMBER_TTL", "PARKED", "SCHEMA", "SCHEMA_VERSION"]

SCHEMA_VERSION: Final = 1
#: ``avail_at`` of a row parked behind an older message of its key.
PARKED: Final = 1e18
#: Seconds a member row counts as live after its handle last vouched for it
#: (handles vouch every 5 seconds; a killed process stops).
MEMBER_TTL: Final = 15.0
#: Seconds after which a member row nobody vouches for is deleted.
MEMBER_FORGET: Final = 300.0

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS bus_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO bus_meta (key, value) VALUES ('schema_version', 1), ('groups_version', 0);
CREATE TABLE IF NOT EXISTS bus_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (name, pattern)
);
CREATE TABLE IF NOT EXISTS bus_queue (
    id INTEGER PRIMARY KEY,
    grp INTEGER NOT NULL,
    avail_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    key TEXT,
    headers BLOB,
    data BLOB NOT NULL,
    published_at REAL NOT NULL,
    letter_id TEXT
);
CREATE INDEX IF NOT EXISTS bus_queue_schedule ON bus_queue (grp, avail_at);
CREATE INDEX IF NOT EXISTS bus_queue_keys ON bus_queue (grp, key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS bus_dedup (
    msg_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_dedup_expiry ON bus_dedup (expires_at);
CREATE TABLE IF NOT EXISTS bus_letters (
    id TEXT PRIMARY KEY,
    grp INTEGER NOT NULL,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    key TEXT,
    headers BLOB,
    data BLOB NOT NULL,
    published_at REAL NOT NULL,
    error TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    dead_at REAL NOT NULL,
    retrying INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_inbox (
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (grp, msg_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_inbox_age ON bus_inbox (handled_at);
CREATE TABLE IF NOT EXISTS bus_checkpoints (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_members (
    owner TEXT PRIMARY KEY,
    grp INTEGER NOT NULL,
    seen_at REAL NOT NULL
) WITHOUT ROWID;
"""
