"""Fuzzing every endpoint of ``/api/openapi.json`` with schemathesis: valid
and invalid requests, zero 5xx, answers that match the document, and a
refused request never writes.

The server runs with uvicorn in a thread of its own, on the memory store
and bus, with a dead letter to retry, a stream to read, a causal chain to
trace and a served App with a projection to rebuild. ``/api/subscribe``
never ends, so it is fuzzed for its refusals only (bad ``Last-Event-ID`` and
parameters, see test_api_all); ``/api/ws`` is no HTTP operation.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck
from schemathesis import GenerationMode, checks
from tests.servers._shared import free_port

from eventflux import App, NewEvent, Reject, open_store
from eventflux.bus import Message, open_bus
from eventflux.cqrs import Projection, Transaction, handles
from eventflux.server import ServerSettings, create_app
from eventflux.server.tokens import MemoryTokenStore, Scope

EXAMPLES = 40
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]


class Accounts(Projection):
    """The served App's projection (rebuildable by the fuzzer)."""

    name = "fuzz-accounts"

    def create_schema(self, tx: Transaction) -> None:
        tx.execute("CREATE TABLE accounts (owner TEXT)")

    @handles("Opened")
    def opened(self, data: dict[str, Any], tx: Transaction) -> None:
        tx.execute("INSERT INTO accounts VALUES (:owner)", {"owner": str(data.get("owner"))})


class FuzzServer:
    """The app served from a thread with its own event loop."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.server: uvicorn.Server | None = None
        self.ctx: Any = None
        self.token = ""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _serve(self) -> None:
        async with await open_store("memory://") as store, await open_bus("memory://") as bus:
            meta = {"correlation_id": "c-1"}
            await store.append("account-1", [NewEvent("Opened", {"owner": "ann"}, metadata=meta)])
            served = App("fuzzed", read_model=f"sqlite:///{self.folder}/read.db")
            served.projection(Accounts)

            @bus.subscribe("orders.created", group="pay")
            async def refuse(msg: Message) -> None:
                raise Reject("refused")

            await bus.ready()
            await bus.publish("orders.created", {"n": 1})
            for _ in range(3000):
                if await bus.dlq.list():
                    break
                await asyncio.sleep(0.01)
            tokens = MemoryTokenStore()
            self.token, _ = await tokens.create(Scope.ADMIN)
            app = create_app(
                store, bus, tokens=tokens, settings=ServerSettings(max_body=65536), apps=[served]
            )
            self.ctx = app.state.eventflux
            config = uvicorn.Config(app, port=self.port, log_level="warning", lifespan="on")
            self.server = uvicorn.Server(config)
            self.server.capture_signals = _no_signals  # type: ignore[method-assign]
            serving = asyncio.ensure_future(self.server.serve())
            for _ in range(3000):
                if self.server.started or serving.done():
                    break
                await asyncio.sleep(0.01)
            self.ready.set()
            await serving

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def snapshot(self) -> tuple[int, int, int]:
        """What a refused request must not change: the log, publishes, dead letters."""
        ctx = self.ctx
        position = self.call(ctx.store.last_position())
        letters = self.call(ctx.bus.dlq.list())
        return position, ctx.published.total, len(letters)


def _no_signals() -> Any:
    import contextlib

    return contextlib.nullcontext()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    server = FuzzServer(str(tmp_path_factory.mktemp("fuzz")))
    server.thread.start()
    assert server.ready.wait(30)
    try:
        yield server
    finally:
        assert server.server is not None
        server.server.should_exit = True
        server.thread.join(30)


def operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(url + "/api/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path != "/api/subscribe"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_operation(fuzz_server: FuzzServer, mode: GenerationMode) -> None:
    started = time.monotonic()
    ops = operations(fuzz_server.url)
    assert {op.path for op in ops} >= {
        "/api/health",
        "/api/streams",
        "/api/streams/{stream}",
        "/api/all",
        "/api/publish/{subject}",
        "/api/dlq",
        "/api/dlq/{id}/retry",
        "/api/groups",
        "/api/projections",
        "/api/projections/{name}/rebuild",
        "/api/breakers",
        "/api/sagas",
        "/api/trace/{correlation_id}",
        "/metrics",
    }
    for op in ops:

        @hypothesis.given(case=op.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            before = fuzz_server.snapshot()
            negated = case.operation.schema.is_security_param_negated(case)
            auth = {} if negated else {"Authorization": f"Bearer {fuzz_server.token}"}
            response = case.call(base_url=fuzz_server.url, headers=auth, timeout=10)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                assert fuzz_server.snapshot() == before, case.as_curl_command()

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # no input of this operation can be made invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, op.path
    assert time.monotonic() - started < 60
