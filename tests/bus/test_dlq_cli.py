"""``eventflux dlq`` never creates a bus: a missing SQLite bus file is an error
(exit code 2) that names close file names, and nothing is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux.bus import open_bus
from eventflux.cli.bus import register

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


async def _make_bus(url: str) -> None:
    async with await open_bus(url):
        pass


@pytest.mark.parametrize(
    "args",
    [
        ["dlq", "list"],
        ["dlq", "retry", "--all"],
        ["dlq", "purge", "--yes"],
    ],
)
def test_a_missing_bus_file_is_an_error_and_is_not_created(tmp_path: Path, args: list[str]) -> None:
    asyncio.run(_make_bus(f"sqlite:///{tmp_path}/shop-bus.db"))
    typo = tmp_path / "shop-bsu.db"
    result = runner.invoke(_cli(), [*args, "--bus", f"sqlite:///{typo}"])
    assert result.exit_code == 2, result.output
    assert "there is no bus at" in result.output
    assert "shop-bus.db" in result.output  # the close name
    assert not typo.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["shop-bus.db"]


def test_an_existing_bus_file_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    asyncio.run(_make_bus(url))
    result = runner.invoke(_cli(), ["dlq", "list", "--bus", url, "--json"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
