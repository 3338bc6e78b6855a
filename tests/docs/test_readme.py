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
