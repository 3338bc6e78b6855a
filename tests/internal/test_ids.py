"""Ids: uuid7, message ids and random ids, reseeded in a forked child by one hook."""

from __future__ import annotations

import os
import pickle
import uuid

import pytest

from eventflux import ANY, STREAM_EXISTS
from eventflux._internal.ids import new_id, new_msg_id, uuid7


def test_each_kind_of_id_is_well_formed_and_unique() -> None:
    events = [uuid7() for _ in range(2000)]
    assert events == sorted(events)
    assert len(set(events)) == 2000
    assert all(e.version == 7 for e in events[:10])
    msgs = [new_msg_id() for _ in range(2000)]
    assert len(set(msgs)) == 2000
    assert uuid.UUID(msgs[0]).version == 7
    randoms = [new_id() for _ in range(2000)]
    assert len(set(randoms)) == 2000
    assert uuid.UUID(randoms[0]).version == 4


@pytest.mark.filterwarnings("ignore:This process.*fork:DeprecationWarning")
def test_a_forked_child_draws_other_ids_of_every_kind() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report ids made right after the fork
        os.close(read)
        out = "\n".join([str(uuid7()), new_msg_id(), new_id()])
        os.write(write, out.encode())
        os._exit(0)
    os.close(write)
    mine = [str(uuid7()), new_msg_id(), new_id()]
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    theirs = data.decode().split("\n")
    assert len(theirs) == 3
    # the random parts differ (not only the time): compare the last 8 hex digits
    for a, b in zip(mine, theirs, strict=True):
        assert a[-8:] != b[-8:]


def test_sentinels_keep_their_identity_through_pickle() -> None:
    assert pickle.loads(pickle.dumps(ANY)) is ANY
    assert pickle.loads(pickle.dumps(STREAM_EXISTS)) is STREAM_EXISTS
