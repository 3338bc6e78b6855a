"""Every ```python block of docs/emitter.md runs without error (the blocks assert)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs._blocks import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "emitter.md"
BLOCKS = python_blocks(DOC)


def test_the_guide_has_its_blocks() -> None:
    assert len(BLOCKS) >= 10
    assert all("from eventflux import" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_block_runs(line: int, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"emitter_md_line{line}"}
    padded = "\n" * (line - 1) + code  # tracebacks show the line numbers of the .md file
    exec(compile(padded, str(DOC), "exec"), namespace)


def test_python_blocks_helper(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title\n"
        "```python\n"
        "a = 1\n"
        "\n"
        "if a:\n"
        "    b = 2\n"
        "```\n"
        "```text\n"
        "not code\n"
        "```\n"
        "- item\n"
        "  ```py\n"
        "  c = 3\n"
        "  ```\n"
        "~~~~python\n"
        "```\n"
        "~~~~\n"
        "```python skip\n"
        "ignored\n"
        "```\n"
    )
    assert python_blocks(doc) == [
        (3, "a = 1\n\nif a:\n    b = 2\n"),
        (13, "c = 3\n"),
        (16, "```\n"),
    ]
    doc.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="not closed"):
        python_blocks(doc)
