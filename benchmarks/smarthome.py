"""The smart-home rules engine: rule evaluations per second, trigger-to-action
latency through the bus, and 500 devices at 10 events/s each for 60 s.

Run: .venv/bin/python benchmarks/smarthome.py [--quick] [--sqlite]

* rule evaluations: 200 automations (each a numeric trigger on a meter and a
  state trigger on a motion sensor), 100,000 stored device events handled by
  the engine from position zero; evaluations are the (event, trigger) checks
  the engine made (its index skips triggers an event cannot concern), and the
  naive figure counts every event against all 200 automations;
* trigger-to-action latency: a motion message published on the bus,
  recorded in the store, handled by the engine, its command relayed to the
  bus and received by a device's subscriber (p50, p99), 200 automations;
* load: 500 devices x 10 readings/s for 60 s through the hub (recorder,
  projections, engine); the engine's lag, sampled twice a second.

No peer runs here: Home Assistant's automation engine is not a library one
can drive side by side from Python, and no PyPI package offers durable
automations to compare with, so the figures stand alone. ``--sqlite`` runs
the latency and load parts on SQLite files instead of memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from eventflux.demos.smarthome.load import rule_throughput, telemetry_load, trigger_latency


async def main(quick: bool, sqlite: bool) -> dict[str, object]:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        urls: dict[str, str] = {}
        if sqlite:
            urls = {
                "store": f"sqlite:///{Path(folder)}/events.db",
                "bus": f"sqlite:///{Path(folder)}/bus.db",
            }
        rules = await rule_throughput(automations=200, events=20_000 if quick else 100_000)
        results["rules"] = rules
        print(
            f"rule evaluations: {rules['events']:,} events, 200 automations: "
            f"{rules['events_per_second']:,.0f} events/s, "
            f"{rules['evaluations_per_second']:,.0f} trigger checks/s "
            f"({rules['naive_evaluations_per_second']:,.0f}/s counted against all 200), "
            f"{rules['runs']:,} runs"
        )
        latency = await trigger_latency(
            automations=200, triggers=300 if quick else 2000, rate=100.0, **urls
        )
        results["latency"] = latency
        print(
            f"trigger-to-action latency through the bus ({latency['triggers']} triggers): "
            f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms, "
            f"max {latency['max_ms']:.1f} ms"
        )
        load = await telemetry_load(
            devices=500, rate=10.0, seconds=10.0 if quick else 60.0, automations=200, **urls
        )
        results["load"] = {
            "published": load.published,
            "handled": load.handled,
            "max_lag": load.max_lag,
            "max_lag_seconds": load.max_lag_seconds,
            "drain_seconds": load.drain_seconds,
            "runs": load.runs,
        }
        print("load: " + "\n      ".join(load.lines()))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--sqlite", action="store_true", help="SQLite files, not memory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    out = asyncio.run(main(args.quick, args.sqlite))
    if args.json:
        print(json.dumps(out, indent=2))
