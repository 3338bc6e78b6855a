"""``eventflux demo chat``: a scripted conversation over two server processes."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TITLE", "run"]

TITLE = "Chat: rooms, presence and history over two server processes"


async def run(workdir: Path) -> list[str]:
    raise NotImplementedError
