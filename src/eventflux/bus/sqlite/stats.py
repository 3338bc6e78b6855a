"""The read-only figures of the SQLite bus's groups (``bus.groups()``), read in
one snapshot on a connection of their own, so that a scan of a long backlog
never holds up the writer thread.

Example::

    rows = group_stats(conn, time.time())   # one GroupStats per (group, pattern)
"""

from __future__ import annotations

import sqlite3

from ..backend import GroupStats
from .schema import MEMBER_TTL, PARKED

__all__ = ["group_stats"]


def group_stats(conn: sqlite3.Connection, now: float) -> list[GroupStats]:
    """Figures of every group in the file, read in one transaction."""
    conn.execute("BEGIN")
    try:
        groups = conn.execute("SELECT id, name, pattern FROM bus_groups ORDER BY id").fetchall()
        queues = {
            gid: (total, leased, oldest)
            for gid, total, leased, oldest in conn.execute(
                "SELECT grp, count(*),"
                " count(CASE WHEN owner IS NOT NULL AND avail_at > ? AND avail_at < ? THEN 1 END),"
                " min(published_at) FROM bus_queue GROUP BY grp",
                (now, PARKED),
            )
        }
        letters = dict(conn.execute("SELECT grp, count(*) FROM bus_letters GROUP BY grp"))
        members = dict(
            conn.execute(
                "SELECT grp, count(*) FROM bus_members WHERE seen_at >= ? GROUP BY grp",
                (now - MEMBER_TTL,),
            )
        )
    finally:
        conn.execute("COMMIT")
    out: list[GroupStats] = []
    for gid, name, pattern in groups:
        total, leased, oldest = queues.get(gid, (0, 0, None))
        out.append(
            GroupStats(
                name,
                pattern,
                members.get(gid, 0),
                total - leased,
                leased,
                letters.get(gid, 0),
                oldest,
            )
        )
    return out
