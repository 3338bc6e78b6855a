"""A process of the cross-process tracing test (run as a script, not collected).

Usage: _otel_process.py MODE BUS_URL SPANS_JSON

Each process sets up the OpenTelemetry SDK with an in-memory exporter and
writes the spans it finished to SPANS_JSON when it ends. ``relay``: handles
``chain.one`` (its first run fails) by publishing ``chain.two``; prints
``ready`` once subscribed, stops on SIGTERM. ``origin``: publishes
``chain.one`` and waits until it handled ``chain.two``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventflux.bus import Message, open_bus
from eventflux.context import metadata_context

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)


def dump(path: str) -> None:
    spans: list[dict[str, Any]] = []
    for s in exporter.get_finished_spans():
        assert s.context is not None
        spans.append(
            {
                "name": s.name,
                "kind": s.kind.name,
                "trace_id": format(s.context.trace_id, "032x"),
                "span_id": format(s.context.span_id, "016x"),
                "parent_id": None if s.parent is None else format(s.parent.span_id, "016x"),
                "attributes": dict(s.attributes or {}),
            }
        )
    with open(path, "w") as f:
        json.dump(spans, f)


async def relay(url: str, out: str) -> None:
    bus = await open_bus(url)

    async def handle(msg: Message) -> None:
        if msg.attempt == 1:
            raise ConnectionError("flaky")
        correlation = msg.headers.get("correlation_id", msg.msg_id)
        await bus.publish("chain.two", msg.data, headers={"correlation_id": correlation})

    bus.subscribe("chain.one", handle, group="relay", backoff=(0.01, 0.01))
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await bus.close()
    dump(out)


async def origin(url: str, out: str) -> None:
    async with await open_bus(url) as bus:
        done = asyncio.Event()
        bus.subscribe("chain.two", lambda msg: done.set(), group="sink")
        with metadata_context(correlation_id="corr-otel"):
            await bus.publish("chain.one", {"n": 1}, msg_id="first")
        await asyncio.wait_for(done.wait(), 60)
    dump(out)


if __name__ == "__main__":
    mode, url, out = sys.argv[1:4]
    asyncio.run(relay(url, out) if mode == "relay" else origin(url, out))
