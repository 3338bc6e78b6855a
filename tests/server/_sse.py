"""A small Server-Sent Events reader for the tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseItem:
    """One message (``comment`` set for comment lines)."""

    id: str | None = None
    event: str | None = None
    data: str = ""
    comment: str | None = None
    retry: int | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_items(response: httpx.Response) -> AsyncIterator[SseItem]:
    """The messages and comments of an event stream, as they arrive."""
    item = SseItem()
    has_fields = False
    async for line in response.aiter_lines():
        if line == "":
            if has_fields:
                yield item
            item, has_fields = SseItem(), False
            continue
        if line.startswith(":"):
            yield SseItem(comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        has_fields = True
        if name == "id":
            item.id = value
        elif name == "event":
            item.event = value
        elif name == "data":
            item.data = value if not item.data else item.data + "\n" + value
        elif name == "retry":
            item.retry = int(value)
        else:
            item.fields[name] = value
