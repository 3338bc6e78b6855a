"""`eventflux demo` runs every demo on the embedded SQLite default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from eventflux.cli import build_app
from eventflux.cli.demo import available

runner = CliRunner()


def test_demo_lists_the_demos() -> None:
    result = runner.invoke(build_app(), ["demo", "--list"])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    for name in available():
        assert name in result.output


def test_demo_rejects_unknown_names(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["demo", "nope", "--dir", str(tmp_path / "d")])  # type: ignore[arg-type]
    assert result.exit_code == 2
    assert "unknown demo" in result.output


def test_demo_runs_every_demo_from_the_console_script(tmp_path: Path) -> None:
    """As the README runs it: no --dir, so the demos' folder is a relative path."""
    exe = Path(sys.executable).parent / "eventflux"
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run(
        [str(exe), "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for title in ("EventEmitter: chat", "EventEmitter: orders", "EventEmitter: smarthome"):
        assert title in out
    assert "EventEmitter: trading" in out
    assert "balance now: 120" in out
    assert "stale writer rejected" in out
    assert "Traceback" not in out + proc.stderr
    assert (tmp_path / ".eventflux-demo" / "store-events.db").exists()


def test_demo_chat_scripts_a_conversation_over_two_server_processes(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "eventflux"
    proc = subprocess.run(
        [str(exe), "demo", "chat", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "Traceback" not in out + proc.stderr
    for line in (
        "presence #general: bob online",  # bob is on the other server
        "bob is typing…",
        "presence #general: cat away",
        "got 3 missed messages (v12..v14), 0 duplicates, 0 gaps",
        "server b killed (SIGKILL)",
        "presence #general: eve offline",
        "#general: 4 members, 3 here now, 7 messages",
        "v7   bob: hello from server b: I saw it at once",
        "v8   cat: <b>bold?</b> no: HTML stays text",
        "v11  cat deleted v10",
        "v16  eve joined",
    ):
        assert line in out, line
    assert (tmp_path / "demo" / "chat" / "chat-events.db").exists()
