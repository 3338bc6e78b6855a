"""503 when the store or the bus is down, on every path that needs one."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.conftest import Api

STORE_PATHS: list[tuple[str, str, Any]] = [
    ("GET", "/api/health", None),
    ("GET", "/api/streams", None),
    ("GET", "/api/streams/a-1", None),
    ("POST", "/api/streams/a-1", {"events": [{"type": "A", "data": {}}]}),
    ("GET", "/api/all", None),
    ("GET", "/api/subscribe", None),
]
BUS_PATHS: list[tuple[str, str, Any]] = [
    ("GET", "/api/health", None),
    ("POST", "/api/publish/a.b", {"data": {}}),
    ("GET", "/api/dlq", None),
    ("DELETE", "/api/dlq", None),
    ("POST", "/api/dlq/1/retry", None),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload"), STORE_PATHS)
async def test_a_closed_store_is_503(api: Api, method: str, path: str, payload: Any) -> None:
    await api.store.close()
    r = await api.client.request(method, path, json=payload)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["type"] == "StoreClosedError"
    assert r.headers["retry-after"] == "1"


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload"), BUS_PATHS)
async def test_a_closed_bus_is_503(api: Api, method: str, path: str, payload: Any) -> None:
    await api.bus.close()
    r = await api.client.request(method, path, json=payload)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["type"] == "BusClosedError"
