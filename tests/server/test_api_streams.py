"""``/api/streams``: list, read, append, with every rule of DESIGN 3.8."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.server.conftest import Api

from eventflux import NewEvent


def body(*types: str, **fields: Any) -> dict[str, Any]:
    return {"events": [{"type": t, "data": {"n": i}} for i, t in enumerate(types)], **fields}


def error_type(r: Any) -> str:
    payload = r.json()
    assert set(payload) == {"error"}, payload
    assert isinstance(payload["error"]["message"], str)
    assert payload["error"]["message"]
    return str(payload["error"]["type"])


@pytest.mark.asyncio
async def test_append_answers_201_with_versions_and_position(api: Api) -> None:
    r = await api.client.post("/api/streams/account-1", json=body("Opened", "Deposited"))
    assert r.status_code == 201
    assert r.json() == {"first_version": 1, "last_version": 2, "position": 2}
    r = await api.client.post("/api/streams/account-1", json=body("Withdrawn"))
    assert r.json() == {"first_version": 3, "last_version": 3, "position": 3}
    assert await api.store.stream_version("account-1") == 3


@pytest.mark.asyncio
async def test_an_event_keeps_its_metadata_and_id(api: Api) -> None:
    event_id = str(uuid.uuid4())
    payload = {
        "events": [
            {
                "type": "Opened",
                "data": {"owner": "ann"},
                "metadata": {"actor": "u1"},
                "id": event_id,
            }
        ]
    }
    assert (await api.client.post("/api/streams/a-1", json=payload)).status_code == 201
    (event,) = (await api.client.get("/api/streams/a-1")).json()["events"]
    assert event["id"] == event_id
    assert event["metadata"] == {"actor": "u1"}
    assert event["data"] == {"owner": "ann"}
    assert set(event) == {
        "id", "stream", "version", "position", "type", "data", "metadata", "recorded_at",
    }  # fmt: skip
    assert event["recorded_at"].endswith("Z")


@pytest.mark.asyncio
async def test_a_retried_batch_answers_200_with_the_original_result(api: Api) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    payload = {
        "events": [{"type": "A", "data": {}, "id": i} for i in ids],
        "expected_version": "no_stream",
    }
    first = await api.client.post("/api/streams/s-1", json=payload)
    assert first.status_code == 201
    await api.client.post("/api/streams/other", json=body("B"))
    again = await api.client.post("/api/streams/s-1", json=payload)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await api.store.stream_version("s-1") == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("expected", "status"),
    [
        ("any", 201),
        ("exists", 201),
        (2, 201),
        (1, 409),
        ("no_stream", 409),
        (0, 409),
    ],
)
async def test_expected_version(api: Api, expected: object, status: int) -> None:
    await api.client.post("/api/streams/s-2", json=body("A", "B"))
    r = await api.client.post("/api/streams/s-2", json=body("C", expected_version=expected))
    assert r.status_code == status, r.text
    if status == 409:
        assert error_type(r) == "ConcurrencyError"
        assert r.json()["error"]["actual"] == 2
        assert await api.store.stream_version("s-2") == 2


@pytest.mark.asyncio
async def test_exists_on_a_new_stream_is_a_conflict(api: Api) -> None:
    r = await api.client.post("/api/streams/new-1", json=body("A", expected_version="exists"))
    assert r.status_code == 409
    assert r.json()["error"]["expected"] == "exists"


@pytest.mark.asyncio
async def test_an_id_used_in_another_stream_is_a_conflict(api: Api) -> None:
    event_id = str(uuid.uuid4())
    one = {"events": [{"type": "A", "data": {}, "id": event_id}]}
    assert (await api.client.post("/api/streams/s-a", json=one)).status_code == 201
    r = await api.client.post("/api/streams/s-b", json=one)
    assert r.status_code == 409
    assert error_type(r) == "DuplicateEventError"


BAD_BODIES: list[Any] = [
    [],
    "text",
    {},
    {"events": []},
    {"events": {}},
    {"events": [1]},
    {"events": [{"data": {}}]},
    {"events": [{"type": "", "data": {}}]},
    {"events": [{"type": 7, "data": {}}]},
    {"events": [{"type": "A"}]},
    {"events": [{"type": "A", "data": [1]}]},
    {"events": [{"type": "A", "data": "x"}]},
    {"events": [{"type": "A", "data": {}, "metadata": [1]}]},
    {"events": [{"type": "A", "data": {}, "id": "not-a-uuid"}]},
    {"events": [{"type": "A", "data": {}, "id": 12}]},
    {"events": [{"type": "A\x00", "data": {}}]},
    {"events": [{"type": "A", "data": {}}], "expected_version": True},
    {"events": [{"type": "A", "data": {}}], "expected_version": False},
    {"events": [{"type": "A", "data": {}}], "expected_version": -1},
    {"events": [{"type": "A", "data": {}}], "expected_version": 1.0},
    {"events": [{"type": "A", "data": {}}], "expected_version": "later"},
    {"events": [{"type": "A", "data": {}}], "expected_version": 2**63},
    {"events": [{"type": "A", "data": {}}, {"type": "A", "data": {}, "id": "x"}]},
]


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
async def test_bad_append_bodies_are_400_and_write_nothing(api: Api, payload: Any) -> None:
    r = await api.client.post("/api/streams/s-3", json=payload)
    assert r.status_code == 400, r.text
    assert error_type(r)
    assert await api.store.last_position() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("raw", [b"", b"{", b"nul", b"\xff\xfe", b'{"events": [}'])
async def test_a_body_that_is_not_json_is_400(api: Api, raw: bytes) -> None:
    r = await api.client.post(
        "/api/streams/s-4", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert error_type(r) == "BadRequest"


@pytest.mark.asyncio
async def test_a_duplicate_id_within_one_batch_is_a_conflict(api: Api) -> None:
    event_id = str(uuid.uuid4())
    payload = {"events": [{"type": "A", "data": {}, "id": event_id}] * 2}
    r = await api.client.post("/api/streams/s-5", json=payload)
    assert r.status_code == 409
    assert await api.store.last_position() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["a%01b", "x" * 256, "tab%09here", "nul%00"])
async def test_invalid_stream_names_are_400(api: Api, name: str) -> None:
    r = await api.client.post(f"/api/streams/{name}", json=body("A"))
    assert r.status_code == 400
    assert error_type(r) == "InvalidStreamName"
    r = await api.client.get(f"/api/streams/{name}")
    assert r.status_code == 400


@pytest.mark.asyncio
async def test_stream_names_may_hold_slashes_and_any_printable_text(api: Api) -> None:
    for name in ["tenant/1/orders", "ünï cødé", "100%_done", "a?b#c"]:
        quoted = name.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        r = await api.client.post(f"/api/streams/{quoted}", json=body("A"))
        assert r.status_code == 201, (name, r.text)
        r = await api.client.get(f"/api/streams/{quoted}")
        assert [e["stream"] for e in r.json()["events"]] == [name]


@pytest.mark.asyncio
async def test_an_event_over_the_store_limit_is_413(make_api: Any) -> None:
    api = await make_api()
    big = {"events": [{"type": "A", "data": {"x": "y" * (1024 * 1024 + 10)}}]}
    r = await api.client.post("/api/streams/s-6", json=big)
    assert r.status_code == 413
    assert error_type(r) == "EventTooLargeError"
    assert await api.store.last_position() == 0


@pytest.mark.asyncio
async def test_a_missing_or_deleted_stream_reads_as_404(api: Api) -> None:
    r = await api.client.get("/api/streams/nobody")
    assert r.status_code == 404
    assert error_type(r) == "StreamNotFound"
    await api.store.append("gone-1", [NewEvent("A", {})])
    await api.store.delete_stream("gone-1")
    assert (await api.client.get("/api/streams/gone-1")).status_code == 404


@pytest.mark.asyncio
async def test_read_with_from_version_limit_and_backwards(api: Api) -> None:
    await api.store.append("r-1", [NewEvent("E", {"i": i}) for i in range(1, 11)])

    async def versions(query: str) -> list[int]:
        r = await api.client.get(f"/api/streams/r-1?{query}")
        assert r.status_code == 200, r.text
        return [e["version"] for e in r.json()["events"]]

    assert await versions("") == list(range(1, 11))
    assert await versions("from_version=4&limit=3") == [4, 5, 6]
    assert await versions("backwards=true&limit=2") == [10, 9]
    assert await versions("backwards=true&from_version=3") == [3, 2, 1]
    assert await versions("backwards=FALSE&from_version=9") == [9, 10]
    assert await versions("from_version=11") == []  # past the end of a stream that exists
    assert await versions("limit=10000") == list(range(1, 11))


@pytest.mark.asyncio
async def test_the_default_limit_is_100(api: Api) -> None:
    await api.store.append("big-1", [NewEvent("E", {}) for _ in range(150)])
    r = await api.client.get("/api/streams/big-1")
    assert len(r.json()["events"]) == 100


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=10001",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "limit=1&limit=2",
        "from_version=-1",
        "from_version=x",
        "from_version=99999999999999999999",
        "backwards=yes",
        "backwards=1",
        "backwards=",
    ],
)
async def test_bad_read_parameters_are_400(api: Api, query: str) -> None:
    await api.store.append("p-1", [NewEvent("E", {})])
    r = await api.client.get(f"/api/streams/p-1?{query}")
    assert r.status_code == 400, r.text
    assert error_type(r) == "BadRequest"


@pytest.mark.asyncio
async def test_list_streams_with_prefix_and_limit(api: Api) -> None:
    for name, n in [("acc-1", 2), ("acc-2", 1), ("user-1", 3), ("acc_3", 1)]:
        await api.store.append(name, [NewEvent("E", {}) for _ in range(n)])
    r = await api.client.get("/api/streams")
    assert r.json() == [
        {"stream": "acc-1", "version": 2},
        {"stream": "acc-2", "version": 1},
        {"stream": "acc_3", "version": 1},
        {"stream": "user-1", "version": 3},
    ]
    r = await api.client.get("/api/streams?prefix=acc-")
    assert [s["stream"] for s in r.json()] == ["acc-1", "acc-2"]
    r = await api.client.get("/api/streams?limit=1")
    assert [s["stream"] for s in r.json()] == ["acc-1"]
    assert (await api.client.get("/api/streams?prefix=zzz")).json() == []
    assert (await api.client.get("/api/streams?limit=0")).status_code == 400


@pytest.mark.asyncio
async def test_unknown_paths_and_methods_answer_json_errors(api: Api) -> None:
    r = await api.client.get("/api/nothing-here")
    assert r.status_code == 404
    assert error_type(r) == "NotFound"
    r = await api.client.delete("/api/streams/a")
    assert r.status_code == 405
    assert error_type(r) == "MethodNotAllowed"
