"""OpenTelemetry across two real processes on the SQLite bus: one trace id covers
publish -> process -> publish -> process, each CONSUMER span parented on the
PRODUCER span whose ``traceparent`` its message carried, with the messaging
attributes and ``error.type`` on a failed run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[1] / "bus" / "_otel_process.py"


def _run(tmp_path: Path) -> list[dict[str, Any]]:
    url = f"sqlite:///{tmp_path}/bus.db"
    with subprocess.Popen(
        [sys.executable, str(SCRIPT), "relay", url, str(tmp_path / "relay.json")],
        stdout=subprocess.PIPE,
        text=True,
    ) as relay:
        try:
            assert relay.stdout is not None
            assert relay.stdout.readline().strip() == "ready"
            subprocess.run(
                [sys.executable, str(SCRIPT), "origin", url, str(tmp_path / "origin.json")],
                check=True,
                timeout=120,
            )
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(60)
    assert relay.returncode == 0
    spans = json.loads((tmp_path / "origin.json").read_text())
    spans += json.loads((tmp_path / "relay.json").read_text())
    return spans


@pytest.mark.timeout(180)
def test_one_trace_covers_publish_process_publish_process(tmp_path: Path) -> None:
    spans = _run(tmp_path)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    (first,) = by_name["publish chain.one"]
    runs = by_name["process chain.one"]
    (second,) = by_name["publish chain.two"]
    (last,) = by_name["process chain.two"]

    assert {s["trace_id"] for s in spans} == {first["trace_id"]}  # one trace, two processes
    assert first["kind"] == "PRODUCER"
    assert first["parent_id"] is None
    assert [r["kind"] for r in runs] == ["CONSUMER", "CONSUMER"]
    assert {r["parent_id"] for r in runs} == {first["span_id"]}
    failed, ok = sorted(
        runs, key=lambda r: r["attributes"].get("messaging.message.delivery_attempt", 1)
    )
    assert failed["attributes"]["error.type"] == "ConnectionError"
    assert "messaging.message.delivery_attempt" not in failed["attributes"]  # the first
    assert "error.type" not in ok["attributes"]
    assert ok["attributes"]["messaging.message.delivery_attempt"] == 2
    assert second["kind"] == "PRODUCER"
    assert second["parent_id"] == ok["span_id"]
    assert last["kind"] == "CONSUMER"
    assert last["parent_id"] == second["span_id"]

    assert first["attributes"] == {
        "messaging.system": "eventflux",
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.destination.name": "chain.one",
        "messaging.message.id": "first",
        "messaging.message.conversation_id": "corr-otel",
    }
    attrs = ok["attributes"]
    assert attrs["messaging.system"] == "eventflux"
    assert attrs["messaging.operation.name"] == "process"
    assert attrs["messaging.destination.name"] == "chain.one"
    assert attrs["messaging.consumer.group.name"] == "relay"
    assert attrs["messaging.message.id"] == "first"
    assert attrs["messaging.message.conversation_id"] == "corr-otel"
    assert last["attributes"]["messaging.consumer.group.name"] == "sink"
    assert last["attributes"]["messaging.message.conversation_id"] == "corr-otel"
