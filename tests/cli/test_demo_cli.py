"""`eventflux demo` runs every demo on the embedded SQLite default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventflux.cli import build_app
from eventflux.cli.demo import MARKER, available

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


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_demo_refuses_folders_that_are_not_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a project tree with the working folder inside it
    home = tmp_path / "home"
    work = home / "project"
    work.mkdir(parents=True)
    (home / "notes.txt").write_text("keep me")
    (work / "main.py").write_text("print('hi')")
    (work / "data.db").write_bytes(b"SQLite format 3\x00 not really")
    before = _tree(tmp_path)
    monkeypatch.chdir(work)
    for folder in (".", "..", str(work), str(home)):
        result = runner.invoke(build_app(), ["demo", "store", "--dir", folder])  # type: ignore[arg-type]
        assert result.exit_code == 2, (folder, result.output)
        assert "not a demo folder" in result.output
        assert _tree(tmp_path) == before  # nothing written, nothing removed
    file = work / "main.py"
    as_file = runner.invoke(build_app(), ["demo", "store", "--dir", str(file)])  # type: ignore[arg-type]
    assert as_file.exit_code == 2
    assert _tree(tmp_path) == before


def test_demo_writes_and_removes_only_its_own_files(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = runner.invoke(build_app(), ["demo", "store", "--dir", str(folder)])  # type: ignore[arg-type]
    assert first.exit_code == 0, first.output
    assert (folder / MARKER).exists()
    written = json.loads((folder / MARKER).read_text())["files"]
    assert "store-events.db" in written
    (folder / "mine.txt").write_text("my own notes")  # the user adds a file of theirs
    again = runner.invoke(build_app(), ["demo", "store", "--dir", str(folder)])  # type: ignore[arg-type]
    assert again.exit_code == 0, again.output
    assert (folder / "mine.txt").read_text() == "my own notes"
    assert "mine.txt" not in json.loads((folder / MARKER).read_text())["files"]
    # an empty folder is fine too, and so is the working folder when it is empty
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(build_app(), ["demo", "store", "--dir", str(empty)])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert (empty / MARKER).exists()
