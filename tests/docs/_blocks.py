"""Extract the ```python code blocks of a Markdown file, to run them as tests."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["python_blocks"]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


def python_blocks(path: str | Path) -> list[tuple[int, str]]:
    """Every fenced block tagged ``python`` (or ``py``) in ``path``, in order.

    Each item is the 1-based line number of the block's first code line and
    the code, without the fence's indentation. Blocks tagged otherwise
    (```pycon, ```text, ```python skip...) are left out; a block that never
    closes is a ``ValueError``, since it would hide the rest of the file::

        for line, code in python_blocks("docs/emitter.md"):
            exec(compile(code, f"docs/emitter.md:{line}", "exec"), {})
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str]] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], opening["indent"]
        start = index
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if (
                closing is not None
                and not closing["info"].strip()
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
            ):
                break
            index += 1
        else:
            raise ValueError(f"{path}:{start}: code block is not closed")
        if opening["info"].split() in (["python"], ["py"]):
            body = [line.removeprefix(indent) for line in lines[start:index]]
            blocks.append((start + 1, "\n".join(body) + "\n"))
        index += 1  # past the closing fence
    return blocks
