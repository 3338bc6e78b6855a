"""Contract: a hypothesis state machine comparing a backend with a plain model."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ...events import AppendResult, NewEvent
from ...exceptions import ConcurrencyError, DuplicateEventError
from ...store import ANY, NO_STREAM, STREAM_EXISTS, EventStore
from ._base import ContractBase, collect

STREAMS = ["a", "b", "c-1", "c-2"]
EXAMPLES = 300 if os.environ.get("CI") else 60

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_data = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        json_scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=4,
)
new_events = st.lists(
    st.builds(
        lambda t, d: NewEvent(t, d), st.sampled_from(["Opened", "Moved", "Closed"]), json_data
    ),
    min_size=1,
    max_size=3,
)
expectations = st.sampled_from(["exact", "wrong", "any", "exists", "no_stream"])


class _Model:
    def __init__(self) -> None:
        self.streams: dict[str, list[NewEvent]] = {}
        self.log: list[NewEvent] = []
        self.where: dict[Any, str] = {}
        self.batches: list[tuple[str, list[NewEvent], AppendResult]] = []

    def version(self, stream: str) -> int:
        return len(self.streams.get(stream, []))

    def expected(self, stream: str, how: str) -> Any:
        v = self.version(stream)
        return {
            "exact": v,
            "wrong": v + 1,
            "any": ANY,
            "exists": STREAM_EXISTS,
            "no_stream": NO_STREAM,
        }[how]

    def accepts(self, stream: str, expected: Any) -> bool:
        v = self.version(stream)
        if expected is ANY:
            return True
        if expected is STREAM_EXISTS:
            return v > 0
        return bool(expected == v)

    def apply(self, stream: str, events: list[NewEvent]) -> None:
        self.streams.setdefault(stream, []).extend(events)
        self.log.extend(events)
        for e in events:
            self.where[e.id] = stream


class StatefulContract(ContractBase):
    def test_store_behaves_like_the_model(self) -> None:
        contract = self

        class StoreMachine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                self.runner = asyncio.Runner()
                self.tmp = Path(tempfile.mkdtemp(prefix="eventflux-model-"))
                self.store: EventStore = self.runner.run(contract.make_store(self.tmp))
                self.model = _Model()
                self.positions: list[int] = []

            def teardown(self) -> None:
                try:
                    self.runner.run(self.store.close())
                finally:
                    self.runner.close()
                    shutil.rmtree(self.tmp, ignore_errors=True)

            def run(self, coro: Any) -> Any:
                return self.runner.run(coro)

            @initialize()
            def start(self) -> None:
                pass

            @rule(stream=st.sampled_from(STREAMS), events=new_events, how=expectations)
            def append(self, stream: str, events: list[NewEvent], how: str) -> None:
                expected = self.model.expected(stream, how)
                if self.model.accepts(stream, expected):
                    before = self.model.version(stream)
                    r = self.run(self.store.append(stream, events, expected_version=expected))
                    assert (r.first_version, r.last_version) == (before + 1, before + len(events))
                    self.model.apply(stream, events)
                    self.model.batches.append((stream, events, r))
                else:
                    with pytest.raises(ConcurrencyError) as info:
                        self.run(self.store.append(stream, events, expected_version=expected))
                    assert info.value.actual == self.model.version(stream)

            @precondition(lambda self: bool(self.model.batches))
            @rule(data=st.data(), how=expectations)
            def retry(self, data: st.DataObject, how: str) -> None:
                stream, events, original = data.draw(st.sampled_from(self.model.batches))
                expected = self.model.expected(stream, how)
                r = self.run(self.store.append(stream, events, expected_version=expected))
                assert r == original

            @precondition(lambda self: bool(self.model.log))
            @rule(data=st.data(), stream=st.sampled_from(STREAMS))
            def reuse_id_elsewhere(self, data: st.DataObject, stream: str) -> None:
                old = data.draw(st.sampled_from(self.model.log))
                fresh = NewEvent("Fresh", {})
                batch = data.draw(st.sampled_from([[old, fresh], [fresh, old], [old, old]]))
                if batch == [old] and self.model.where[old.id] == stream:
                    return
                with pytest.raises(DuplicateEventError):
                    self.run(self.store.append(stream, batch))

            @rule(
                s1=st.sampled_from(STREAMS),
                s2=st.sampled_from(STREAMS),
                e1=new_events,
                e2=new_events,
                h1=expectations,
                h2=expectations,
            )
            def append_many(
                self, s1: str, s2: str, e1: list[NewEvent], e2: list[NewEvent], h1: str, h2: str
            ) -> None:
                if s1 == s2:
                    return
                x1, x2 = self.model.expected(s1, h1), self.model.expected(s2, h2)
                ok = self.model.accepts(s1, x1) and self.model.accepts(s2, x2)
                try:
                    res = self.run(self.store.append_many({s1: (e1, x1), s2: (e2, x2)}))
                except ConcurrencyError:
                    assert not ok
                    return
                assert ok
                self.model.apply(s1, e1)
                self.model.apply(s2, e2)
                self.model.batches.append((s1, e1, res[s1]))
                self.model.batches.append((s2, e2, res[s2]))

            @rule(
                stream=st.sampled_from(STREAMS),
                backwards=st.booleans(),
                from_version=st.none() | st.integers(0, 12),
                limit=st.none() | st.integers(0, 5),
            )
            def read(
                self, stream: str, backwards: bool, from_version: int | None, limit: int | None
            ) -> None:
                got = self.run(
                    collect(
                        self.store.read(
                            stream, backwards=backwards, from_version=from_version, limit=limit
                        )
                    )
                )
                rows = list(enumerate(self.model.streams.get(stream, []), start=1))
                if backwards:
                    rows.reverse()
                    if from_version is not None:
                        rows = [r for r in rows if r[0] <= from_version]
                elif from_version is not None:
                    rows = [r for r in rows if r[0] >= from_version]
                if limit is not None:
                    rows = rows[:limit]
                assert [(e.version, e.id, e.type, e.data) for e in got] == [
                    (v, m.id, m.type, m.data) for v, m in rows
                ]

            @rule(
                data=st.data(),
                limit=st.none() | st.integers(0, 6),
                prefix=st.sampled_from(["", "c-", "a"]),
            )
            def read_all(self, data: st.DataObject, limit: int | None, prefix: str) -> None:
                after_index = data.draw(st.integers(0, len(self.positions)))
                after = 0 if after_index == 0 else self.positions[after_index - 1]
                got = self.run(
                    collect(self.store.read_all(after=after, limit=limit, stream_prefix=prefix))
                )
                expected = [
                    e
                    for e in self.model.log[after_index:]
                    if self.model.where[e.id].startswith(prefix)
                ]
                if limit is not None:
                    expected = expected[:limit]
                assert [e.id for e in got] == [e.id for e in expected]

            @invariant()
            def log_and_versions_match(self) -> None:
                everything = self.run(collect(self.store.read_all()))
                assert [e.id for e in everything] == [e.id for e in self.model.log]
                self.positions = [e.position for e in everything]
                assert self.positions == sorted(set(self.positions))
                for s in STREAMS:
                    assert self.run(self.store.stream_version(s)) == self.model.version(s)

        StoreMachine.TestCase.settings = settings(
            max_examples=EXAMPLES,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        StoreMachine.TestCase().runTest()
