"""The runnable ```python blocks of the message-bus section of docs/observability.md
(other sections belong to other parts of the library)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs._blocks import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def _bus_section_blocks() -> list[tuple[int, str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index("## The message bus") + 1
    end = next(
        (i + 1 for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines) + 1
    )
    return [(line, code) for line, code in python_blocks(DOC) if start <= line < end]


BLOCKS = _bus_section_blocks()


def test_the_section_has_its_blocks() -> None:
    assert BLOCKS
    assert all("asyncio.run(main())" in code for _, code in BLOCKS)


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_block_runs(line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"observability_md_line{line}"}
    exec(compile("\n" * (line - 1) + code, str(DOC), "exec", dont_inherit=True), namespace)
