"""The store's hooks for metrics (``eventflux_store_appends_total``) and tracing
(one OpenTelemetry span per append), on every built-in backend."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventflux import NewEvent, open_store
from eventflux.observability.metrics import Metrics, disable_metrics, enable_metrics

URLS = ["memory://", "sqlite:///{tmp}/e.db"]


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    import prometheus_client

    disable_metrics()
    m = enable_metrics(prometheus_client.CollectorRegistry())
    try:
        yield m
    finally:
        disable_metrics()


def _value(m: Metrics, name: str) -> float:
    value = m.registry.get_sample_value(name)
    return 0.0 if value is None else float(value)


@pytest.mark.asyncio
@pytest.mark.parametrize("url", URLS)
async def test_appends_are_counted_once_retries_not(
    metrics: Metrics, tmp_path: Path, url: str
) -> None:
    async with await open_store(url.format(tmp=tmp_path)) as store:
        batch = [NewEvent("X", {"n": i}) for i in range(3)]
        await store.append("a", batch)
        await store.append("a", batch)  # a retry writes nothing
        await store.append_many(
            {"a": (batch, 3), "b": ([NewEvent("Y", {})], 0)}  # the retry part counts nothing
        )
        with pytest.raises(Exception):  # noqa: B017 - any failure: nothing is counted
            await store.append("b", [NewEvent("Y", {})], expected_version=7)
    assert _value(metrics, "eventflux_store_appends_total") == 4
    assert _value(metrics, "eventflux_store_append_batches_total") == 2


_SPANS = textwrap.dedent(
    """
    import asyncio, json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from eventflux import ConcurrencyError, NewEvent, open_store

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def main():
        async with await open_store(sys.argv[1]) as store:
            with trace.get_tracer("test").start_as_current_span("command"):
                await store.append("account-1", [NewEvent("X", {}), NewEvent("X", {})])
            await store.append_many({"a": ([NewEvent("X", {})], 0), "b": ([NewEvent("Y", {})], 0)})
            try:
                await store.append("a", [NewEvent("X", {})], expected_version=9)
            except ConcurrencyError:
                pass

    asyncio.run(main())
    out = []
    for s in exporter.get_finished_spans():
        out.append({"name": s.name, "kind": s.kind.name, "attributes": dict(s.attributes),
                    "parent": s.parent.span_id if s.parent else None,
                    "span": s.context.span_id, "status": s.status.status_code.name})
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("url", URLS)
def test_each_append_is_a_client_span(tmp_path: Path, url: str) -> None:
    # a process of its own: the tracer provider is process-wide
    url = url.format(tmp=tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _SPANS, url], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    spans: list[dict[str, Any]] = json.loads(proc.stdout)
    by_name = {s["name"]: s for s in spans}
    system = url.split(":")[0]
    first = by_name["append account-1"]
    assert first["kind"] == "CLIENT"
    assert first["attributes"] == {
        "db.system.name": system,
        "db.operation.name": "append",
        "db.collection.name": "account-1",
        "eventflux.events": 2,
    }
    assert first["parent"] == by_name["command"]["span"]
    assert by_name["append_many"]["attributes"]["db.collection.name"] == "a,b"
    assert by_name["append a"]["status"] == "ERROR"
    assert first["status"] == "UNSET"
