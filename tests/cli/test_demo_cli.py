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
