"""The SQL of the SQLite bus. Every method runs in the writer thread, inside
the write transaction of one group commit (see :mod:`.writer`); the tables
and the schedule of a row are described in :mod:`.schema`.

Example::

    ops = Ops()
    rows, due = Ops.fetch(conn, group_id, owner, 16, 30.0)
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ...codec import dumps
from ...events import uuid7
from ..backend import Envelope
from ..subjects import compile_pattern
from .delivery import SQLiteDelivery
from .schema import MEMBER_FORGET, PARKED

__all__ = ["Ops", "Row"]


_INSERT: Final = (
    "INSERT INTO bus_queue (grp, avail_at, subject, msg_id, key, headers, data, published_at,"
    " letter_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LEASE: Final = (
    "UPDATE bus_queue SET avail_at = ?, owner = ?, deliveries = deliveries + 1"
    " WHERE id IN (SELECT id FROM bus_queue WHERE grp = ? AND avail_at = 0 ORDER BY id LIMIT ?)"
    " RETURNING id, subject, msg_id, key, headers, data, published_at, deliveries, runs,"
    " letter_id"
)
#: A leased row: (id, subject, msg_id, key, headers, data, published_at, deliveries, runs,
#: letter_id); ``deliveries`` (hand-outs) is the lease token, ``runs + 1`` the attempt.
Row = tuple[int, str, str, str | None, bytes | None, bytes, float, int, int, str | None]


class Ops:
    """The bus's SQL, with a cache of the groups (refreshed when they change)."""

    def __init__(self) -> None:
        self._groups_version = -1
        self._groups: list[tuple[int, Callable[[str], bool]]] = []
        self._routes: dict[str, list[int]] = {}

    # -- publishing --------------------------------------------------------------------
    def _refresh_groups(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute(
            "SELECT value FROM bus_meta WHERE key = 'groups_version'"
        ).fetchone()
        if version != self._groups_version:
            rows = conn.execute("SELECT id, pattern FROM bus_groups").fetchall()
            self._groups = [(gid, compile_pattern(p)) for gid, p in rows]
            self._routes.clear()
            self._groups_version = version

    def _route(self, subject: str) -> list[int]:
        route = self._routes.get(subject)
        if route is None:
            route = [gid for gid, match in self._groups if match(subject)]
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[subject] = route
        return route

    @staticmethod
    def _key_busy(conn: sqlite3.Connection, gid: int, key: str) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM bus_queue WHERE grp = ? AND key = ? LIMIT 1", (gid, key)
            ).fetchone()
            is not None
        )

    def publish(
        self, conn: sqlite3.Connection, envs: Sequence[Envelope], window: float
    ) -> list[bool]:
        self._refresh_groups(conn)
        now = time.time()
        results: list[bool] = []
        rows: list[tuple[Any, ...]] = []
        keys: set[tuple[int, str]] = set()
        route_of = self._routes.get
        for env in envs:
            if env.explicit_id:
                hit = conn.execute(
                    "SELECT expires_at FROM bus_dedup WHERE msg_id = ?", (env.msg_id,)
                ).fetchone()
                if hit is not None and hit[0] > now:
                    results.append(False)
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO bus_dedup (msg_id, expires_at) VALUES (?, ?)",
                    (env.msg_id, now + window),
                )
            results.append(True)
            route = route_of(env.subject)
            if route is None:
                route = self._route(env.subject)
            if not route:
                continue
            key = env.key
            if key is None and not env.headers and len(route) == 1:  # the common case
                rows.append(
                    (route[0], 0.0, env.subject, env.msg_id, None, None, env.data,
                     env.published_at, None)
                )  # fmt: skip
                continue
            headers = dumps(dict(env.headers)) if env.headers else None
            for gid in route:
                avail = 0.0
                if key is not None:
                    if (gid, key) in keys or self._key_busy(conn, gid, key):
                        avail = PARKED
                    keys.add((gid, key))
                rows.append(
                    (gid, avail, env.subject, env.msg_id, key, headers, env.data,
                     env.published_at, None)
                )  # fmt: skip
        if rows:
            conn.executemany(_INSERT, rows)
        return results

    # -- consuming ---------------------------------------------------------------------
    @staticmethod
    def group_id(conn: sqlite3.Connection, name: str, pattern: str) -> int | None:
        row = conn.execute(
            "SELECT id FROM bus_groups WHERE name = ? AND pattern = ?", (name, pattern)
        ).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def create_group(conn: sqlite3.Connection, name: str, pattern: str) -> int:
        """Create the group if needed (publishes see it from this commit on); return its id."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO bus_groups (name, pattern, created_at) VALUES (?, ?, ?)",
            (name, pattern, time.time()),
        )
        if cur.rowcount:
            conn.execute("UPDATE bus_meta SET value = value + 1 WHERE key = 'groups_version'")
        gid = Ops.group_id(conn, name, pattern)
        assert gid is not None
        return gid

    @staticmethod
    def join(conn: sqlite3.Connection, name: str, pattern: str, owner: str) -> int:
        """Create the group if needed and register the member ``owner``; return the group id."""
        now = time.time()
        gid = Ops.create_group(conn, name, pattern)
        conn.execute(
            "INSERT OR REPLACE INTO bus_members (owner, grp, seen_at) VALUES (?, ?, ?)",
            (owner, gid, now),
        )
        return int(gid)

    @staticmethod
    def leave(conn: sqlite3.Connection, owner: str) -> None:
        conn.execute("DELETE FROM bus_members WHERE owner = ?", (owner,))

    @staticmethod
    def fetch(
        conn: sqlite3.Connection, gid: int, owner: str, n: int, ack_wait: float
    ) -> tuple[list[Row], float | None]:
        """Lease up to n rows; when none is ready, also return when the next falls due."""
        now = time.time()
        conn.execute(
            "UPDATE bus_queue SET avail_at = 0 WHERE grp = ? AND avail_at > 0 AND avail_at <= ?",
            (gid, now),
        )
        rows: list[Row] = conn.execute(_LEASE, (now + ack_wait, owner, gid, n)).fetchall()
        if rows:
            rows.sort()
            return rows, None
        (due,) = conn.execute(
            "SELECT min(avail_at) FROM bus_queue WHERE grp = ? AND avail_at > 0 AND avail_at < ?",
            (gid, PARKED),
        ).fetchone()
        return [], due

    @staticmethod
    def _unpark(conn: sqlite3.Connection, gid: int, key: str) -> None:
        conn.execute(
            "UPDATE bus_queue SET avail_at = 0 WHERE id = "
            "(SELECT min(id) FROM bus_queue WHERE grp = ? AND key = ?) AND avail_at = ?",
            (gid, key, PARKED),
        )

    def ack(self, conn: sqlite3.Connection, deliveries: list[SQLiteDelivery]) -> None:
        plain: list[tuple[int]] = []
        for d in deliveries:
            row_id, key, letter_id = d.row_id, d.key, d.letter_id
            if key is None and letter_id is None:
                plain.append((row_id,))
                continue
            gone = conn.execute(
                "DELETE FROM bus_queue WHERE id = ? RETURNING grp", (row_id,)
            ).fetchone()
            if gone is None:
                continue
            if key is not None:
                self._unpark(conn, gone[0], key)
            if letter_id is not None:
                conn.execute("DELETE FROM bus_letters WHERE id = ?", (letter_id,))
        if plain:
            conn.executemany("DELETE FROM bus_queue WHERE id = ?", plain)

    @staticmethod
    def starting(conn: sqlite3.Connection, d: SQLiteDelivery) -> None:
        """Record that the handler of ``d`` starts as run number ``d.attempt``."""
        conn.execute(
            "UPDATE bus_queue SET runs = ? WHERE id = ? AND owner = ? AND deliveries = ?",
            (d.attempt, d.row_id, d.owner, d.lease),
        )

    @staticmethod
    def nak(conn: sqlite3.Connection, d: SQLiteDelivery, delay: float, count: bool) -> None:
        avail = 0.0 if delay <= 0 else time.time() + delay
        conn.execute(
            "UPDATE bus_queue SET avail_at = ?, owner = NULL, runs = ?"
            " WHERE id = ? AND owner = ? AND deliveries = ?",
            (avail, d.attempt if count else d.attempt - 1, d.row_id, d.owner, d.lease),
        )

    @staticmethod
    def release(conn: sqlite3.Connection, deliveries: list[SQLiteDelivery]) -> None:
        """Make the rows ready again at once, their deliveries un-counted."""
        conn.executemany(
            "UPDATE bus_queue SET avail_at = 0, owner = NULL, runs = ?"
            " WHERE id = ? AND owner = ? AND deliveries = ?",
            [(d.attempt - 1, d.row_id, d.owner, d.lease) for d in deliveries],
        )

    @staticmethod
    def extend(conn: sqlite3.Connection, deliveries: list[SQLiteDelivery], ack_wait: float) -> None:
        until = time.time() + ack_wait
        conn.executemany(
            "UPDATE bus_queue SET avail_at = ? WHERE id = ? AND owner = ? AND deliveries = ?",
            [(until, d.row_id, d.owner, d.lease) for d in deliveries],
        )

    def dead_letter(self, conn: sqlite3.Connection, d: SQLiteDelivery, error: str) -> None:
        row_id, owner, n = d.row_id, d.owner, d.lease
        row = conn.execute(
            "DELETE FROM bus_queue WHERE id = ? AND owner = ? AND deliveries = ? RETURNING"
            " grp, subject, msg_id, key, headers, data, published_at, letter_id, ?",
            (row_id, owner, n, d.attempt),
        ).fetchone()
        if row is None:
            return
        gid, _subject, _msg_id, key, _headers, _data, _at, letter_id, deliveries = row
        now = time.time()
        if letter_id is not None:
            cur = conn.execute(
                "UPDATE bus_letters SET error = ?, deliveries = ?, dead_at = ?, retrying = 0"
                " WHERE id = ?",
                (error, deliveries, now, letter_id),
            )
            if not cur.rowcount:  # purged while it was being retried
                self._insert_letter(conn, letter_id, row, error, now)
        else:
            self._insert_letter(conn, str(uuid7()), row, error, now)
        if key is not None:
            self._unpark(conn, gid, key)

    @staticmethod
    def _insert_letter(
        conn: sqlite3.Connection, letter_id: str, row: tuple[Any, ...], error: str, now: float
    ) -> None:
        gid, subject, msg_id, key, headers, data, published_at, _l, deliveries = row
        conn.execute(
            "INSERT INTO bus_letters (id, grp, subject, msg_id, key, headers, data, published_at,"
            " error, deliveries, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (letter_id, gid, subject, msg_id, key, headers, data, published_at, error,
             deliveries, now),
        )  # fmt: skip

    # -- dead letters ------------------------------------------------------------------
    @staticmethod
    def dlq_list(conn: sqlite3.Connection, group: str | None) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT l.id, g.name, l.subject, l.data, l.msg_id, l.key, l.error, l.deliveries,"
            " l.dead_at FROM bus_letters l JOIN bus_groups g ON g.id = l.grp"
        )
        if group is None:
            return conn.execute(sql + " ORDER BY l.dead_at, l.id").fetchall()
        return conn.execute(sql + " WHERE g.name = ? ORDER BY l.dead_at, l.id", (group,)).fetchall()

    def dlq_retry(self, conn: sqlite3.Connection, letter_id: str) -> bool:
        row = conn.execute(
            "SELECT grp, subject, msg_id, key, headers, data, published_at, retrying"
            " FROM bus_letters WHERE id = ?",
            (letter_id,),
        ).fetchone()
        if row is None:
            return False
        gid, subject, msg_id, key, headers, data, published_at, retrying = row
        if retrying:
            return True
        conn.execute("UPDATE bus_letters SET retrying = 1 WHERE id = ?", (letter_id,))
        avail = PARKED if key is not None and self._key_busy(conn, gid, key) else 0.0
        conn.execute(
            _INSERT, (gid, avail, subject, msg_id, key, headers, data, published_at, letter_id)
        )
        return True

    @staticmethod
    def dlq_purge(conn: sqlite3.Connection, group: str | None) -> int:
        if group is None:
            return conn.execute("DELETE FROM bus_letters").rowcount
        return conn.execute(
            "DELETE FROM bus_letters WHERE grp IN (SELECT id FROM bus_groups WHERE name = ?)",
            (group,),
        ).rowcount

    # -- inbox, checkpoints, housekeeping ----------------------------------------------
    @staticmethod
    def inbox_seen(conn: sqlite3.Connection, group: str, msg_id: str) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM bus_inbox WHERE grp = ? AND msg_id = ?", (group, msg_id)
            ).fetchone()
            is not None
        )

    @staticmethod
    def inbox_record(conn: sqlite3.Connection, group: str, msg_id: str) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO bus_inbox (grp, msg_id, handled_at) VALUES (?, ?, ?)",
            (group, msg_id, time.time()),
        )

    @staticmethod
    def load_checkpoint(conn: sqlite3.Connection, name: str) -> int | None:
        row = conn.execute("SELECT value FROM bus_checkpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def save_checkpoint(conn: sqlite3.Connection, name: str, value: int) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO bus_checkpoints (name, value) VALUES (?, ?)", (name, value)
        )

    @staticmethod
    def housekeeping(
        conn: sqlite3.Connection, inbox_retention: float, owners: tuple[str, ...] = ()
    ) -> None:
        """Drop expired dedup ids and old inbox records; vouch for this handle's
        members (``owners``) and forget members nobody vouched for in a long time."""
        now = time.time()
        conn.execute("DELETE FROM bus_dedup WHERE expires_at < ?", (now,))
        conn.execute("DELETE FROM bus_inbox WHERE handled_at < ?", (now - inbox_retention,))
        if owners:
            conn.executemany(
                "UPDATE bus_members SET seen_at = ? WHERE owner = ?", [(now, o) for o in owners]
            )
        conn.execute("DELETE FROM bus_members WHERE seen_at < ?", (now - MEMBER_FORGET,))
