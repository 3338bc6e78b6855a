"""``/api/openapi.json`` describes exactly the HTTP routes the server has."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from tests.server.conftest import Api


def route_paths(app: object) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and (
            route.path.startswith("/api/") or route.path == "/metrics"
        ):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method.lower(), path))
    return found


@pytest.mark.asyncio
async def test_the_document_lists_every_route_and_nothing_else(api: Api) -> None:
    r = await api.client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert documented == route_paths(api.app)
    assert documented >= {
        ("get", "/api/health"),
        ("get", "/api/openapi.json"),
        ("get", "/api/streams"),
        ("get", "/api/streams/{stream}"),
        ("post", "/api/streams/{stream}"),
        ("get", "/api/all"),
        ("get", "/api/subscribe"),
        ("post", "/api/publish/{subject}"),
        ("get", "/api/dlq"),
        ("delete", "/api/dlq"),
        ("post", "/api/dlq/{id}/retry"),
        ("get", "/api/groups"),
        ("get", "/api/projections"),
        ("post", "/api/projections/{name}/rebuild"),
        ("get", "/api/sagas"),
        ("get", "/api/breakers"),
        ("get", "/api/trace/{correlation_id}"),
        ("get", "/metrics"),
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["operationId"], (method, path)
            assert "200" in op["responses"] or "202" in op["responses"] or "201" in op["responses"]
            if op.get("security", None) != []:
                assert "401" in op["responses"], (method, path)
                assert "403" in op["responses"], (method, path)
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert doc["paths"]["/api/openapi.json"]["get"]["security"] == []
