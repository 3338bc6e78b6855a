"""The ```python block of docs/chat.md runs against two real chat server
processes on one SQLite store and bus (the block asserts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.demos.chat.test_servers import servers
from tests.docs._blocks import python_blocks

DOC = Path(__file__).resolve().parents[2] / "docs" / "chat.md"
BLOCKS = python_blocks(DOC)


@pytest.mark.asyncio
async def test_the_client_example_talks_across_two_processes(tmp_path: Path) -> None:
    assert len(BLOCKS) == 1
    line, code = BLOCKS[0]
    namespace: dict[str, object] = {"__name__": f"chat_md_line{line}"}
    exec(compile("\n" * (line - 1) + code, str(DOC), "exec", dont_inherit=True), namespace)
    talk = namespace["talk"]
    with servers(tmp_path) as (a, b):
        await talk(a.ws, b.ws)  # type: ignore[operator]
