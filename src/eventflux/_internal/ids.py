"""Every id eventflux makes, with one fork hook.

- :func:`uuid7`: event ids, RFC 9562 version 7 UUIDs, strictly increasing in
  one process.
- :func:`new_msg_id`: message ids, UUIDv7 strings several times cheaper than
  ``str(uuid7())`` (42 bits drawn once per process, then a counter).
- :func:`new_id`: random version 4 UUID strings (command ids, member ids):
  unique, not secret.

The generators draw from a PRNG seeded by the OS, not a system call per id.
A forked child reseeds every one of them (``os.register_at_fork``), so a
worker started with ``fork`` never repeats its parent's ids.

Example::

    event_id = uuid7()
    msg_id = new_msg_id()
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from typing import Final
from uuid import UUID, SafeUUID

__all__ = ["new_id", "new_msg_id", "uuid7"]

# -- uuid7 ------------------------------------------------------------------------------
_uuid7_lock = threading.Lock()
_uuid7_last_ms = 0
_uuid7_counter = 0
# The low 32 bits only tell processes apart (the counter orders ids within one),
# so a PRNG seeded from the OS is enough; it saves a system call per id.
_uuid7_random = random.Random(os.urandom(16))
_UUID7_FIXED_BITS: Final = 0x7 << 76 | 0b10 << 62  # the version and the variant

_new_object = object.__new__
_set_uuid_int = UUID.__dict__["int"].__set__
_set_uuid_safe = UUID.__dict__["is_safe"].__set__
_SAFE_UNKNOWN: Final = SafeUUID.unknown


def uuid7() -> UUID:
    """Return a new RFC 9562 version 7 UUID (millisecond time, then random bits).

    Ids made in one process are strictly increasing: within one millisecond a
    42-bit counter, seeded at random, orders them.
    """
    global _uuid7_last_ms, _uuid7_counter
    with _uuid7_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _uuid7_last_ms:
            _uuid7_last_ms = ms
            _uuid7_counter = _uuid7_random.getrandbits(41)  # 41 bits: room to count
        else:
            ms = _uuid7_last_ms
            _uuid7_counter += 1
            if _uuid7_counter >= 1 << 42:  # counter overflow: borrow the next millisecond
                _uuid7_last_ms = ms = ms + 1
                _uuid7_counter = 0
        counter = _uuid7_counter
        rand = _uuid7_random.getrandbits(32)
    # 48 bits time | 4 bits version | 12 bits counter(high) | 2 bits variant | 30 bits
    # counter(low) | 32 bits random
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | ((counter >> 30) & 0xFFF) << 64
        | (counter & 0x3FFF_FFFF) << 32
        | rand
        | _UUID7_FIXED_BITS
    )
    # The constructor's argument checks cost more than the rest of this function;
    # the value is a valid 128-bit int by construction.
    uid = _new_object(UUID)
    _set_uuid_int(uid, value)
    _set_uuid_safe(uid, _SAFE_UNKNOWN)
    return uid


# -- message ids ------------------------------------------------------------------------
_process_bits = 0
_counter = itertools.count()
_prefix_ms = -1
_prefix = ""


def new_msg_id() -> str:
    """A fresh message id: a UUIDv7 string (millisecond time, 42 bits drawn once
    per process, a 32-bit counter), several times cheaper than :func:`uuid7`."""
    global _prefix_ms, _prefix
    ms = time.time_ns() // 1_000_000
    if ms != _prefix_ms:
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | (_process_bits >> 30) << 64
            | 0b10 << 62
            | (_process_bits & 0x3FFF_FFFF) << 32
        )
        h = f"{value:032x}"
        _prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"
        _prefix_ms = ms
    return f"{_prefix}{next(_counter) & 0xFFFF_FFFF:08x}"


# -- random ids -------------------------------------------------------------------------
_random_ids = random.Random(os.urandom(16))


def new_id() -> str:
    """A random version 4 UUID string: unique, not secret (command and member ids)."""
    return str(UUID(int=_random_ids.getrandbits(128), version=4))


# -- one fork hook ----------------------------------------------------------------------
def _reseed() -> None:
    """Give this process its own streams of ids (at import and in a forked child)."""
    global _uuid7_last_ms, _process_bits, _counter, _prefix_ms
    _uuid7_random.seed(os.urandom(16))
    _uuid7_last_ms = 0  # the next uuid7 draws a fresh counter seed
    _process_bits = int.from_bytes(os.urandom(6)) >> 6  # 42 random bits per process
    _counter = itertools.count(int.from_bytes(os.urandom(4)))
    _prefix_ms = -1
    _random_ids.seed(os.urandom(16))


_reseed()
os.register_at_fork(after_in_child=_reseed)
