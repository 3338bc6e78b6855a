"""The README's python blocks run, and its commands are the ones CI uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs._blocks import python_blocks

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCKS = python_blocks(README)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line: int, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile("\n" * (line - 1) + code, str(README), "exec"), {"__name__": "readme"})
    assert "ada: Hello!" in capsys.readouterr().out


def test_readme_names_the_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    assert "bash scripts/test" in text
    assert ".venv/bin/eventflux demo" in text
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_first_command_sets_up_and_serves_the_dashboard() -> None:
    text = README.read_text(encoding="utf-8")
    quickstart = text[text.index("## Quickstart") :]
    opening = quickstart.index("```console")
    block = quickstart[opening : quickstart.index("```", opening + 3)]
    commands = [line for line in block.splitlines()[1:] if line and not line.startswith("#")]
    assert commands[0] == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[all]' && .venv/bin/eventflux serve"
    )
    assert "http://127.0.0.1:8000/" in quickstart  # what it prints, what to open
