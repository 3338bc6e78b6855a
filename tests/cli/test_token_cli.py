"""``eventflux token create|list|revoke``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux.cli.token import register, tokens_url

runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps "token" a sub-command
        pass

    return app


def test_tokens_live_beside_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVENTFLUX_TOKENS", raising=False)
    monkeypatch.delenv("EVENTFLUX_STORE", raising=False)
    assert tokens_url(None, None) == "sqlite:///.eventflux/tokens.db"
    assert tokens_url(None, "sqlite:///data/bank.db") == "sqlite:///data/tokens.db"
    assert tokens_url(None, "sqlite:////var/lib/x/s.db") == "sqlite:////var/lib/x/tokens.db"
    assert tokens_url(None, "memory://") == "sqlite:///.eventflux/tokens.db"
    pg = "postgresql://app@db/shop?schema=orders"
    assert tokens_url(None, pg) == pg
    monkeypatch.setenv("EVENTFLUX_TOKENS", "sqlite:///t.db")
    assert tokens_url(None, None) == "sqlite:///t.db"
    assert tokens_url("memory://", None) == "memory://"


def test_create_list_and_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.db"
    created = runner.invoke(
        cli(), ["token", "create", "--scope", "write", "--prefix", "orders-", "--tokens", url]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("efx_")
    assert "\n" not in token
    assert "shown once" in created.stderr
    token_id = token.split("_")[1]

    listed = runner.invoke(cli(), ["token", "list", "--json", "--tokens", url])
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["id"], row["scope"], row["prefix"]) == (token_id, "write", "orders-")
    assert row["revoked_at"] is None

    raw = (tmp_path / "tokens.db").read_bytes()
    assert token.split("_", 2)[2].encode() not in raw  # only the hash is kept
    assert stat.S_IMODE((tmp_path / "tokens.db").stat().st_mode) == 0o600

    table = runner.invoke(cli(), ["token", "list", "--tokens", url])
    assert token_id in table.stdout

    revoked = runner.invoke(cli(), ["token", "revoke", token_id, "--tokens", url])
    assert revoked.exit_code == 0
    again = runner.invoke(cli(), ["token", "revoke", token_id, "--tokens", url])
    assert again.exit_code == 1
    assert "no active token" in again.stderr
    assert runner.invoke(cli(), ["token", "list", "--json", "--tokens", url]).stdout == ""
    everything = runner.invoke(cli(), ["token", "list", "--all", "--json", "--tokens", url])
    assert json.loads(everything.stdout)["revoked_at"] is not None


def test_a_bad_scope_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.db"
    result = runner.invoke(cli(), ["token", "create", "--scope", "root", "--tokens", url])
    assert result.exit_code == 2
    assert "read, write or admin" in result.output
