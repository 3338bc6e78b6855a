"""``GET /api/sagas`` and the sagas page read instances through
``eventflux.sagas.SagaAdmin``; here a stand-in of that module holds three
instances (the API's seam: what it asks of the sagas package)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.server.conftest import Api

DUE = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class View:
    saga: str
    key: str
    finished: bool
    outcome: str | None

    @property
    def status(self) -> str:
        return (self.outcome or "finished") if self.finished else "open"

    def as_dict(self) -> dict[str, Any]:
        return {
            "saga": self.saga,
            "key": self.key,
            "status": self.status,
            "finished": self.finished,
            "outcome": self.outcome,
            "state": {"step": "<b>paid</b>"},
            "deadlines": {} if self.finished else {"pay": DUE.isoformat()},
            "correlation_id": f"c-{self.key}",
        }


VIEWS = [
    View("Fulfilment", "o-1", False, None),
    View("Fulfilment", "o-2", True, "completed"),
    View("Refund", "r-1", True, "cancelled"),
]


class Admin:
    """What the API asks of ``eventflux.sagas.SagaAdmin``."""

    def __init__(self, store: Any, bus: Any) -> None:
        self.store, self.bus = store, bus

    async def instances(
        self, saga: str | None = None, *, state: str | None = None, limit: int = 100
    ) -> list[View]:
        if saga is not None and not saga.isidentifier():
            from eventflux.exceptions import ConfigurationError

            raise ConfigurationError(f"a saga name is letters, digits and '_', not {saga!r}")
        found = [
            v
            for v in VIEWS
            if (saga is None or v.saga == saga)
            and (state is None or state in (v.status, "finished" if v.finished else "open"))
        ]
        return found[:limit]


@pytest.fixture
def sagas(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("eventflux.sagas")
    module.SagaAdmin = Admin  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "eventflux.sagas", module)


@pytest.mark.asyncio
@pytest.mark.usefixtures("sagas")
@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("", ["o-1", "o-2", "r-1"]),
        ("?name=Fulfilment", ["o-1", "o-2"]),
        ("?state=open", ["o-1"]),
        ("?state=finished", ["o-2", "r-1"]),
        ("?state=cancelled", ["r-1"]),
        ("?name=Fulfilment&state=completed", ["o-2"]),
        ("?limit=1", ["o-1"]),
    ],
)
async def test_instances_by_name_and_state(api: Api, query: str, keys: list[str]) -> None:
    r = await api.client.get("/api/sagas" + query)
    assert r.status_code == 200
    assert [s["key"] for s in r.json()["sagas"]] == keys


@pytest.mark.asyncio
@pytest.mark.usefixtures("sagas")
async def test_an_instance_as_json_and_a_bad_name(api: Api) -> None:
    (first,) = (await api.client.get("/api/sagas?state=open")).json()["sagas"]
    assert first == {
        "saga": "Fulfilment",
        "key": "o-1",
        "status": "open",
        "finished": False,
        "outcome": None,
        "state": {"step": "<b>paid</b>"},
        "deadlines": {"pay": "2030-01-01T00:00:00+00:00"},
        "correlation_id": "c-o-1",
    }
    r = await api.client.get("/api/sagas?name=no-such.saga")
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "ConfigurationError"


@pytest.mark.asyncio
@pytest.mark.usefixtures("sagas")
async def test_a_prefix_token_sees_no_instance(api: Api) -> None:
    await api.token("admin")
    prefixed = await api.token("read", prefix="order-")
    r = await api.client.get("/api/sagas", headers=api.auth(prefixed))
    assert r.json() == {"sagas": []}


@pytest.mark.asyncio
@pytest.mark.usefixtures("sagas")
async def test_the_sagas_page_and_the_metrics(api: Api) -> None:
    page = await api.client.get("/sagas?name=Fulfilment")
    assert page.status_code == 200
    assert page.text.count('class="saga"') == 2
    assert "&lt;b&gt;paid&lt;/b&gt;" in page.text  # state shown as text
    assert "/trace?correlation_id=c-o-1" in page.text
    text = (await api.client.get("/metrics")).text
    assert 'eventflux_sagas{saga="Fulfilment",state="open"} 1.0' in text
    assert 'eventflux_sagas{saga="Refund",state="cancelled"} 1.0' in text


@pytest.mark.asyncio
async def test_without_the_sagas_package_the_list_is_empty(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "eventflux.sagas", None)  # import fails: not installed
    assert (await api.client.get("/api/sagas")).json() == {"sagas": []}
    assert 'id="sagas-empty"' in (await api.client.get("/sagas")).text
