"""NewEvent, RecordedEvent metadata helpers and uuid7 ids."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from uuid import UUID

import pytest

from eventflux import (
    ArgumentTypeError,
    EventfluxError,
    InvalidEventType,
    NewEvent,
    RecordedEvent,
    caused_by,
    uuid7,
)


def test_uuid7_is_version_7_and_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(50_000)]
    assert all(i.version == 7 for i in ids[:100])
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_embeds_the_time() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    u = uuid7()
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= u.int >> 80 <= after + 1


def test_uuid7_is_unique_across_threads() -> None:
    out: list[list[UUID]] = [[] for _ in range(4)]

    def work(i: int) -> None:
        out[i].extend(uuid7() for _ in range(10_000))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [u for part in out for u in part]
    assert len(set(everything)) == 40_000
    assert all(part == sorted(part) for part in out)


def test_new_event_defaults_and_checks() -> None:
    e = NewEvent("Deposited", {"amount": 1})
    assert isinstance(e.id, UUID)
    assert e.metadata is None
    assert e.correlation_id is None
    assert NewEvent("X", {}, id=None).id is not None
    with pytest.raises(TypeError):
        NewEvent("X", {}, id="not-a-uuid")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NewEvent("", {})


def test_new_event_errors_are_eventflux_errors_with_the_builtin_base() -> None:
    with pytest.raises(InvalidEventType) as empty:
        NewEvent("", {})
    assert isinstance(empty.value, ValueError)
    assert isinstance(empty.value, EventfluxError)
    with pytest.raises(InvalidEventType):
        NewEvent(5, {})  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError) as bad_id:
        NewEvent("X", {}, id="not-a-uuid")  # type: ignore[arg-type]
    assert isinstance(bad_id.value, TypeError)
    assert isinstance(bad_id.value, EventfluxError)


def test_new_event_carries_its_ids() -> None:
    meta = {"correlation_id": "c-1", "causation_id": "m-9"}
    e2 = NewEvent("X", {}, metadata=meta)
    assert (e2.correlation_id, e2.causation_id) == ("c-1", "m-9")


def test_caused_by_carries_correlation() -> None:
    first = RecordedEvent(
        uuid7(), "s", 1, 1, "Placed", {}, {"correlation_id": "req-7"}, datetime.now(UTC)
    )
    meta = caused_by(first, user="ann")
    assert meta == {"correlation_id": "req-7", "causation_id": str(first.id), "user": "ann"}
    root = RecordedEvent(uuid7(), "s", 1, 1, "Placed", {}, {}, datetime.now(UTC))
    assert caused_by(root)["correlation_id"] == str(root.id)
    assert root.causation_id is None


@pytest.mark.filterwarnings("ignore:This process.*fork:DeprecationWarning")
def test_uuid7_differs_between_a_parent_and_its_forked_child() -> None:
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report ids made right after the fork
        os.close(read)
        os.write(write, b"".join(uuid7().bytes for _ in range(1000)))
        os._exit(0)
    os.close(write)
    mine = {uuid7().bytes for _ in range(1000)}
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    theirs = {data[i : i + 16] for i in range(0, len(data), 16)}
    assert len(theirs) == 1000
    assert not mine & theirs
