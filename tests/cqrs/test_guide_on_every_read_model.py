"""The guide's examples that open a read model run on every read model.

docs/es-cqrs.md reads the read model's URL from ``$READ_MODEL_URL`` (a SQLite
file by default); tests/docs runs every block with the default, and this runs
the same blocks again with ``READ_MODEL_URL`` set to the test's place: the
same code on both backends, switched by the URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cqrs._places import ReadPlace
from tests.docs._blocks import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "es-cqrs.md"
BLOCKS = [(line, code) for line, code in python_blocks(DOC) if "READ_MODEL_URL" in code]


def test_the_guide_switches_its_read_models_by_url() -> None:
    assert len(BLOCKS) >= 2  # the projection and the shop examples
    for _, code in BLOCKS:
        assert "open_read_model(read_url)" in code


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_block_runs(
    line: int, code: str, place: ReadPlace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("READ_MODEL_URL", place.url)
    namespace: dict[str, object] = {"__name__": f"es_cqrs_md_line{line}"}
    padded = "\n" * (line - 1) + code  # tracebacks show the line numbers of the .md file
    exec(compile(padded, str(DOC), "exec", dont_inherit=True), namespace)
