"""Limits under abuse: body size (413 before the body is read whole), JSON
nesting (400), and memory that stays flat under a 100 MB chunked upload."""

from __future__ import annotations

import select
import socket
from pathlib import Path
from typing import Any

import pytest
from tests.server._proc import ServeProcess
from tests.server.conftest import Api


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.asyncio
async def test_json_nesting_up_to_64_levels_is_fine_and_deeper_is_400(api: Api) -> None:
    # the body is 3 levels ({"events": [{"data": ...}]}) around the data
    ok = {"events": [{"type": "A", "data": nested(61)}]}
    r = await api.client.post("/api/streams/deep-1", json=ok)
    assert r.status_code == 201, r.text
    too_deep = {"events": [{"type": "A", "data": nested(62)}]}
    r = await api.client.post("/api/streams/deep-1", json=too_deep)
    assert r.status_code == 400
    assert "64" in r.json()["error"]["message"]
    r = await api.client.post("/api/publish/a.b", json={"data": nested(64)})
    assert r.status_code == 400
    very_deep = b"[" * 5000 + b"]" * 5000
    r = await api.client.post(
        "/api/streams/deep-1", content=very_deep, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert await api.store.stream_version("deep-1") == 1


@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_413(make_api: Any) -> None:
    api = await make_api(max_body=1000)
    payload = {"events": [{"type": "A", "data": {"x": "y" * 2000}}]}
    r = await api.client.post("/api/streams/s-1", json=payload)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "RequestTooLarge"
    assert r.json()["error"]["limit"] == 1000

    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 300

    r = await api.client.post("/api/publish/a.b", content=chunks())  # no Content-Length
    assert r.status_code == 413
    small = {"events": [{"type": "A", "data": {"x": "y" * 100}}]}
    assert (await api.client.post("/api/streams/s-1", json=small)).status_code == 201
    assert await api.store.last_position() == 1


def test_a_chunked_100mb_upload_is_refused_early_and_memory_stays_flat(tmp_path: Path) -> None:
    with ServeProcess(tmp_path) as server:
        before = server.rss()
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.settimeout(10)
        sock.sendall(
            b"POST /api/streams/big-1 HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{server.port}\r\n".encode()
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b'{"x":' + b"1" * (1024 * 1024 - 5)
        framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        sent = 0
        response = b""
        for _ in range(100):  # 100 MiB, unless the server answers first
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(chunk)
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
        try:
            while b"\r\n\r\n" not in response:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
        except (ConnectionResetError, TimeoutError):
            pass
        sock.close()
        after = server.rss()
        assert response.startswith(b"HTTP/1.1 413"), (response[:200], server.output())
        assert sent < 100 * 1024 * 1024
        assert after - before < 32 * 1024 * 1024, (before, after)
        # the server is fine and wrote nothing
        import httpx

        assert httpx.get(server.url + "/api/streams/big-1").status_code == 404
