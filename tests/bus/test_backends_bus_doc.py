"""Every runnable ```python block of docs/backends-bus.md runs without error (the
blocks assert); the interface it describes is the one in eventflux.bus.backend."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from tests.docs._blocks import python_blocks

from eventflux.bus.backend import BusBackend, MemberHandle

DOC = Path(__file__).resolve().parents[2] / "docs" / "backends-bus.md"
BLOCKS = python_blocks(DOC)


def test_the_page_has_its_blocks() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_block_runs(line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"backends_bus_md_line{line}"}
    exec(compile("\n" * (line - 1) + code, str(DOC), "exec", dont_inherit=True), namespace)


@pytest.mark.parametrize("cls", [BusBackend, MemberHandle])
def test_every_method_of_the_interface_is_described(cls: type) -> None:
    text = DOC.read_text(encoding="utf-8")
    names = [n for n, _ in inspect.getmembers(cls) if not n.startswith("_")]
    assert names
    for name in names:
        assert f"`{name}" in text or f" {name}(" in text or f"async {name}(" in text, name
