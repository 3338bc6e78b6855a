"""`eventflux audit CORRELATION_ID`: the chain as a table, JSON or Mermaid."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.audit import register

runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # two commands: typer keeps the command names
        pass

    return app


async def _chain(url: str) -> str:
    async with await open_store(url) as store:
        first = NewEvent(
            "OrderPlaced",
            {"id": 1},
            metadata={
                "correlation_id": "c-1",
                "causation_id": "cmd-1",
                "command": "PlaceOrder",
                "actor": "ann",
            },
        )
        await store.append("order-1", [first])
        await store.append(
            "payment-1",
            [
                NewEvent(
                    "PaymentCharged",
                    {},
                    metadata={
                        "correlation_id": "c-1",
                        "causation_id": "cmd-2",
                        "command": "Charge",
                        "command_causation_id": str(first.id),
                        "actor": "ann",
                    },
                )
            ],
        )
        await store.append("other", [NewEvent("Unrelated", {}, metadata={"correlation_id": "x"})])
        return str(first.id)


def test_audit_prints_the_chain_in_causation_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/events.db"
    asyncio.run(_chain(url))
    result = runner.invoke(cli(), ["audit", "c-1", "--store", url], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.output
    order = [
        lines.index(name) for name in ("PlaceOrder", "OrderPlaced", "Charge", "PaymentCharged")
    ]
    assert order == sorted(order)
    assert "Unrelated" not in lines

    result = runner.invoke(cli(), ["audit", "c-1", "--store", url, "--mermaid"])
    assert result.exit_code == 0
    assert result.output.startswith("sequenceDiagram\n")
    assert "participant P0 as actor ann" in result.output

    result = runner.invoke(cli(), ["audit", "c-1", "--store", url, "--json"])
    chain = json.loads(result.output)
    assert [n["kind"] for n in chain["nodes"]] == [
        "command",
        "event",
        "message",
        "command",
        "event",
    ]


def test_an_unknown_id_or_a_missing_store_is_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/events.db"
    asyncio.run(_chain(url))
    result = runner.invoke(cli(), ["audit", "nope", "--store", url])
    assert result.exit_code == 1
    assert "no events carry" in result.output
    result = runner.invoke(cli(), ["audit", "c-1", "--store", f"sqlite:///{tmp_path}/typo.db"])
    assert result.exit_code == 2  # a missing store: exit code 2
    assert "no event store" in result.output
    assert not (tmp_path / "typo.db").exists()


def test_audit_of_the_shop_demos_checkout(tmp_path: Path) -> None:
    from eventflux.demos import shop

    lines = asyncio.run(shop.run(tmp_path))
    chain_line = next(line for line in lines if line.startswith("causal chain of o-1001"))
    correlation = chain_line.rsplit("correlation ", 1)[1].rstrip("):")
    url = f"sqlite:///{tmp_path}/shop-events.db"
    app = ["--store", url, "--app", "eventflux.demos.shop:app"]
    result = runner.invoke(cli(), ["audit", correlation, *app, "--json"])
    assert result.exit_code == 0, result.output
    nodes = json.loads(result.output)["nodes"]
    assert [(n["kind"], n["name"]) for n in nodes[:4]] == [
        ("command", "Checkout"),
        ("event", "shop.OrderPlaced"),
        ("message", "shop.OrderPlaced"),
        ("command", "ReserveStock"),
    ]
    assert {n["name"] for n in nodes[4:]} == {"shop.OrderConfirmed", "shop.StockAdjusted"}
    assert all(n["actor"] == "ann" for n in nodes)
    result = runner.invoke(cli(), ["audit", correlation, *app, "--mermaid"])
    assert result.exit_code == 0, result.output
    diagram = result.output
    assert diagram.startswith("sequenceDiagram\n")
    for label in ("actor ann", "order-o-1001", "subject shop.OrderPlaced", "product-teapot"):
        assert f" as {label}" in diagram
    assert "ReserveStock" in diagram
