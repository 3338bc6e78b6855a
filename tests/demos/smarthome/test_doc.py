"""Every ```python block of docs/smarthome.md runs (the blocks assert)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs._blocks import python_blocks

DOC = Path(__file__).resolve().parents[3] / "docs" / "smarthome.md"
BLOCKS = python_blocks(DOC)


def test_the_guide_has_its_blocks() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_block_runs(line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"smarthome_md_line{line}"}
    exec(compile("\n" * (line - 1) + code, str(DOC), "exec", dont_inherit=True), namespace)
