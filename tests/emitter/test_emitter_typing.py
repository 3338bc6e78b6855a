"""Static typing: decorators keep the listener's type (checked with mypy --strict)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

SNIPPET = """
from typing import Any, assert_type
from eventflux.emitter import AsyncEventEmitter, EventEmitter, on, once

em = EventEmitter()

@em.on("message")
def show(text: str, *, loud: bool = False) -> int:
    return len(text)

def plain(text: str) -> int:
    return 0

reveal_type(show)
assert_type(em.once("x", show)("hi"), int)
reveal_type(em.prepend_listener("x")(plain))

aem = AsyncEventEmitter()

@aem.prepend_once_listener("x")
async def handle(n: int) -> None: ...

assert_type(aem.emit("x", 1), bool)

async def main() -> None:
    assert_type(await aem.emit_async("x", 1), bool)
    args = await once(em, "x", timeout=1.0)
    assert_type(args, tuple[Any, ...])
    async with on(em, "x") as events:
        async for event in events:
            reveal_type(event)
"""


def test_decorated_listeners_keep_their_types(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    source = tmp_path / "snippet.py"
    source.write_text(textwrap.dedent(SNIPPET))
    stdout, _stderr, _status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    notes = [line for line in stdout.splitlines() if "note: Revealed type" in line]
    assert "def (text: str, *, loud: bool =) -> int" in notes[0]
    assert "def (text: str) -> int" in notes[1]
    assert "tuple[Any, ...]" in notes[2]
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout
