"""``/api/publish/{subject}`` and the dead letters at ``/api/dlq``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.server.conftest import Api

from eventflux import Reject
from eventflux.bus import Message, MessageBus


async def eventually(predicate: Any, what: str, deadline: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not await predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def make_letters(bus: MessageBus, n: int, subject: str = "orders.created") -> list[Any]:
    """``n`` dead letters in group ``pay`` (its handler rejects everything)."""
    handled: list[Message] = []

    @bus.subscribe(subject, group="pay")
    async def refuse(msg: Message) -> None:
        handled.append(msg)
        if msg.data.get("fail", True):
            raise Reject(f"bad order {msg.data['n']}")

    await bus.ready()
    for i in range(n):
        await bus.publish(subject, {"n": i})

    async def dead() -> bool:
        return len(await bus.dlq.list()) >= n

    await eventually(dead, "the dead letters")
    return handled


@pytest.mark.asyncio
async def test_publish_answers_202_with_the_msg_id(api: Api) -> None:
    got: list[Message] = []

    @api.bus.subscribe("orders.created", group="audit")
    async def audit(msg: Message) -> None:
        got.append(msg)

    await api.bus.ready()
    r = await api.client.post(
        "/api/publish/orders.created",
        json={"data": {"id": 1}, "msg_id": "order-1", "key": "c-7", "headers": {"x-a": "b"}},
    )
    assert r.status_code == 202
    assert r.json() == {"msg_id": "order-1"}

    async def arrived() -> bool:
        return len(got) == 1

    await eventually(arrived, "the message")
    assert (got[0].data, got[0].key, dict(got[0].headers)) == ({"id": 1}, "c-7", {"x-a": "b"})
    again = await api.client.post(
        "/api/publish/orders.created", json={"data": {"id": 1}, "msg_id": "order-1"}
    )
    assert again.status_code == 202  # deduplicated, same answer
    assert again.json() == {"msg_id": "order-1"}
    r = await api.client.post("/api/publish/orders.created", json={"data": {}})
    assert r.status_code == 202
    assert r.json()["msg_id"]
    await asyncio.sleep(0.05)
    assert len(got) == 2


BAD_PUBLISH: list[Any] = [
    [],
    {},
    {"data": [1]},
    {"data": "x"},
    {"data": None},
    {"data": {}, "msg_id": ""},
    {"data": {}, "msg_id": 5},
    {"data": {}, "msg_id": "x" * 256},
    {"data": {}, "key": "\n"},
    {"data": {}, "headers": []},
    {"data": {}, "headers": {"a": 1}},
    {"data": {}, "headers": {"a b": "c"}},
    {"data": {}, "headers": {"a:b": "c"}},
    {"data": {}, "headers": {"a": "line\nbreak"}},
]


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", BAD_PUBLISH, ids=[str(i) for i in range(len(BAD_PUBLISH))])
async def test_bad_publish_bodies_are_400(api: Api, payload: Any) -> None:
    r = await api.client.post("/api/publish/orders.created", json=payload)
    assert r.status_code == 400, r.text


@pytest.mark.asyncio
@pytest.mark.parametrize("subject", ["orders.*", "orders.>", "a..b", "a%20b", ".a"])
async def test_bad_subjects_are_400(api: Api, subject: str) -> None:
    r = await api.client.post(f"/api/publish/{subject}", json={"data": {}})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "InvalidSubject"


@pytest.mark.asyncio
async def test_list_retry_and_purge_dead_letters(api: Api) -> None:
    await make_letters(api.bus, 3)
    r = await api.client.get("/api/dlq")
    letters = r.json()["dead_letters"]
    assert [x["data"] for x in letters] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert letters[0]["error"] == "bad order 0"
    assert letters[0]["group"] == "pay"
    assert letters[0]["subject"] == "orders.created"
    assert set(letters[0]) == {
        "id", "group", "subject", "msg_id", "key", "error", "deliveries", "dead_at", "data",
    }  # fmt: skip
    assert (await api.client.get("/api/dlq?group=pay&limit=2")).json()["dead_letters"] == (
        letters[:2]
    )
    assert (await api.client.get("/api/dlq?group=other")).json() == {"dead_letters": []}
    assert len((await api.client.get("/api/dlq?subject=orders.*")).json()["dead_letters"]) == 3

    r = await api.client.post(f"/api/dlq/{letters[0]['id']}/retry")
    assert r.status_code == 200
    assert r.json() == {"retried": letters[0]["id"]}

    async def two_left() -> bool:
        return len(await api.bus.dlq.list()) == 3  # retried, rejected again: back in the queue

    await eventually(two_left, "the retried letter to come back")
    r = await api.client.delete("/api/dlq?group=pay")
    assert r.status_code == 200
    assert r.json() == {"purged": 3}
    assert (await api.client.get("/api/dlq")).json() == {"dead_letters": []}
    assert (await api.client.delete("/api/dlq")).json() == {"purged": 0}


@pytest.mark.asyncio
@pytest.mark.parametrize("letter_id", ["nope", "12345", "%20", "a%2Fb"])
async def test_retrying_an_unknown_letter_is_404(api: Api, letter_id: str) -> None:
    r = await api.client.post(f"/api/dlq/{letter_id}/retry")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "DeadLetterNotFoundError"


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["group=a%20b", "group=", "subject=a..b", "limit=0", "limit=x"])
async def test_bad_dlq_parameters_are_400(api: Api, query: str) -> None:
    r = await api.client.get(f"/api/dlq?{query}")
    assert r.status_code == 400, r.text


@pytest.mark.asyncio
async def test_purge_with_a_bad_group_is_400(api: Api) -> None:
    assert (await api.client.delete("/api/dlq?group=a%20b")).status_code == 400
