"""The append route's short way (no router or middleware layers) answers as the
routed way does, and the server's transport writes a response in one piece."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from tests.server.conftest import Api, LiveServer

from eventflux.server.http import CorkedTransport

APPEND = {"events": [{"type": "A", "data": {}}]}


@pytest.mark.asyncio
async def test_the_short_way_and_the_routed_way_answer_alike(api: Api) -> None:
    first = await api.client.post("/api/streams/a-1", json=APPEND)
    assert first.status_code == 201
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.content))
    again = await api.client.post("/api/streams/a-1", json=APPEND)
    assert again.json()["first_version"] == 2
    assert (await api.client.post("/api/streams/a-1")).status_code == 400  # no body
    bad = await api.client.post("/api/streams/a-1", content=b"{nope")
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "BadRequest"
    conflict = await api.client.post(
        "/api/streams/a-1", json={**APPEND, "expected_version": "no_stream"}
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["type"] == "ConcurrencyError"
    empty = await api.client.post("/api/streams/", json=APPEND)
    assert empty.status_code == 400
    assert empty.json()["error"]["type"] == "InvalidStreamName"
    listed = await api.client.get("/api/streams/a-1")
    assert [e["version"] for e in listed.json()["events"]] == [1, 2]


@pytest.mark.asyncio
async def test_under_a_root_path_appends_take_the_routed_way(api: Api) -> None:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/eventflux/api/streams/a-9",
        "raw_path": b"/eventflux/api/streams/a-9",
        "root_path": "/eventflux",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    body = b'{"events": [{"type": "A", "data": {}}]}'

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await api.app(scope, receive, send)
    assert sent[0]["status"] == 201
    assert await api.store.stream_version("a-9") == 1


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


@pytest.mark.asyncio
async def test_writes_of_one_loop_turn_go_out_as_one() -> None:
    raw = Recorder()
    corked = CorkedTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
    corked.writelines([b"{", b"}"])
    corked.write(b"")
    assert raw.writes == []
    assert corked.get_write_buffer_size() == 21
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    corked.write(b"last")
    corked.close()  # what is held goes out before the close
    assert raw.writes[-1] == b"last"
    assert raw.closed
    assert corked.get_extra_info("peername") == "extra peername"
    corked.write(b"dropped")
    corked.abort()
    await asyncio.sleep(0)
    assert raw.aborted
    assert raw.writes[-1] == b"last"


@pytest.mark.asyncio
async def test_a_response_arrives_in_one_segment(live: LiveServer) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = b'{"events": [{"type": "A", "data": {}}]}'
        writer.write(
            b"POST /api/streams/seg-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        first = await asyncio.wait_for(reader.read(65536), 10)
        assert first.startswith(b"HTTP/1.1 201")
        assert first.endswith(b'"position":1}')  # head and body in the first read
    finally:
        writer.close()
    async with httpx.AsyncClient(base_url=live.url) as client:  # keep-alive still works
        for _ in range(3):
            assert (await client.post("/api/streams/seg-2", json=APPEND)).status_code == 201
