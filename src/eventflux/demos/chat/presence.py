"""Presence: who is online or away in each room, across server processes.

Each server process (a *node*) knows its own connections: a member is online
in a room on that node while one of its connections there is online, away
while all of them are away. The nodes tell each other what they hold over
the bus: a *delta* when something changes, a *full* snapshot as a heartbeat
(and when a new node says *hello*), a *bye* when they stop. A node that sent
nothing for the presence timeout is taken for dead and its members leave.
A member's state in a room is the best over the nodes (online beats away),
so a user with several tabs or devices is one member.

This module is the table alone (no I/O): the node feeds it and sends what it
returns.

Example::

    table = PresenceTable("node-a", timeout=30.0)
    table.put(conn=1, room="general", user="ann", state="online")
    table.changes({"general"})      # [("general", {"ann": "online"}, [])]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["AWAY", "ONLINE", "STATES", "PresenceTable"]

ONLINE: Final = "online"
AWAY: Final = "away"
STATES: Final = (ONLINE, AWAY)
_RANK: Final = {AWAY: 1, ONLINE: 2}

Key = tuple[str, str]  # (room, user)
#: (room, joins: user -> state, leaves: users)
Change = tuple[str, dict[str, str], list[str]]


def _best(states: Iterable[str]) -> str | None:
    best: str | None = None
    for s in states:
        if best is None or _RANK[s] > _RANK[best]:
            best = s
    return best


@dataclass
class _Peer:
    """What another node holds, as it last told us."""

    seen: float
    seq: int = 0
    entries: dict[Key, str] = field(default_factory=dict)

    def rooms(self) -> set[str]:
        return {room for room, _ in self.entries}


class PresenceTable:
    """Presence as one node sees it: its own connections, the other nodes'
    members, and the views last announced to its clients."""

    def __init__(
        self, node: str, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.node = node
        self.timeout = timeout
        self.clock = clock
        self.seq = 0
        self._conns: dict[Key, dict[int, str]] = {}
        self._pending: dict[Key, str | None] = {}
        self._peers: dict[str, _Peer] = {}
        self._views: dict[str, dict[str, str]] = {}

    # -- this node's connections -------------------------------------------------------
    def local(self, room: str, user: str) -> str | None:
        """This node's state of ``user`` in ``room`` (None: not here)."""
        conns = self._conns.get((room, user))
        return _best(conns.values()) if conns else None

    def put(self, conn: int, room: str, user: str, state: str | None) -> bool:
        """Set connection ``conn``'s state in ``room`` (None: it left the room or
        closed). True when this node's state of the member changed (then a
        delta is due)."""
        key = (room, user)
        before = self.local(room, user)
        conns = self._conns.get(key)
        if state is None:
            if conns is not None:
                conns.pop(conn, None)
                if not conns:
                    del self._conns[key]
        else:
            if state not in _RANK:
                raise ValueError(f"a presence state is one of {STATES}, not {state!r}")
            self._conns.setdefault(key, {})[conn] = state
        after = self.local(room, user)
        if after == before:
            return False
        self._pending[key] = after
        return True

    def take_delta(self) -> tuple[int, list[list[Any]]] | None:
        """The changes not told yet, as ``(seq, [[room, user, state or None]])``
        (None when there are none)."""
        if not self._pending:
            return None
        self.seq += 1
        entries = [[room, user, state] for (room, user), state in self._pending.items()]
        self._pending.clear()
        return self.seq, entries

    def snapshot(self) -> tuple[int, list[list[Any]]]:
        """Everything this node holds, as ``(seq, [[room, user, state]])``; it
        includes the changes not told yet."""
        self.seq += 1
        self._pending.clear()
        entries = [[room, user, _best(c.values())] for (room, user), c in self._conns.items()]
        return self.seq, entries

    # -- the other nodes -------------------------------------------------------------
    def apply(self, node: str, kind: str, seq: int, entries: Iterable[Any]) -> set[str]:
        """What node ``node`` told (``full``, ``delta``, ``bye``, or anything else
        as a sign of life); returns the rooms whose view may have changed."""
        if node == self.node:
            return set()
        now = self.clock()
        peer = self._peers.get(node)
        if kind == "bye":
            gone = self._peers.pop(node, None)
            return gone.rooms() if gone is not None else set()
        if peer is None:
            peer = self._peers[node] = _Peer(now)
        peer.seen = now
        if kind not in ("full", "delta") or seq <= peer.seq:
            return set()  # a sign of life, or older than what we hold
        touched = peer.rooms() if kind == "full" else set()
        if kind == "full":
            peer.entries = {}
        for item in entries:
            room, user, state = item
            if state in _RANK:
                peer.entries[(room, user)] = state
            else:
                peer.entries.pop((room, user), None)
            touched.add(room)
        peer.seq = seq
        return touched

    def expire(self) -> set[str]:
        """Forget the nodes silent for longer than the timeout; returns the rooms
        whose view may have changed."""
        now = self.clock()
        dead = [n for n, p in self._peers.items() if now - p.seen > self.timeout]
        touched: set[str] = set()
        for n in dead:
            touched |= self._peers.pop(n).rooms()
        return touched

    @property
    def peers(self) -> list[str]:
        """The other nodes heard from within the timeout."""
        return sorted(self._peers)

    # -- views -----------------------------------------------------------------------------
    def view(self, room: str) -> dict[str, str]:
        """Every member present in ``room`` now, with the best state over the nodes."""
        states: dict[str, list[str]] = {}
        for (r, user), conns in self._conns.items():
            if r == room and conns:
                states.setdefault(user, []).extend(conns.values())
        for peer in self._peers.values():
            for (r, user), state in peer.entries.items():
                if r == room:
                    states.setdefault(user, []).append(state)
        return {user: best for user, s in sorted(states.items()) if (best := _best(s))}

    def changes(self, rooms: Iterable[str]) -> list[Change]:
        """For each room, what changed since the view last announced: the
        members who joined or changed state, and those who left."""
        out: list[Change] = []
        for room in sorted(set(rooms)):
            new = self.view(room)
            old = self._views.get(room, {})
            joins = {u: s for u, s in new.items() if old.get(u) != s}
            leaves = sorted(u for u in old if u not in new)
            if new:
                self._views[room] = new
            else:
                self._views.pop(room, None)
            if joins or leaves:
                out.append((room, joins, leaves))
        return out

    def announced(self, room: str) -> dict[str, str]:
        """The view of ``room`` last announced (what a joining client is sent)."""
        return dict(self._views.get(room, {}))

    def online_counts(self) -> dict[str, int]:
        """Room -> members present (online or away), as far as views are known."""
        rooms = {r for r, _ in self._conns} | {
            r for p in self._peers.values() for r, _ in p.entries
        }
        return {room: len(self.view(room)) for room in rooms}
