"""``eventflux serve``: defaults, the URL, tokens, refusal off loopback, serving
Apps (workers, pages, ``--no-workers``, the demos that exist), and a graceful
stop on SIGTERM and SIGINT (in-flight requests and handlers finish)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.server._proc import EVENTFLUX, ServeProcess

from eventflux import open_store
from eventflux.cli.serve_apps import demo_targets

ROOT = Path(__file__).resolve().parents[2]
#: the test Apps (tests.server.minishop, tests.server.slowapp) import from the repository root
APPS_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVENTFLUX, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **APPS_ENV},
    )


def wait_for(check: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_serving_an_app_runs_its_workers_and_mounts_its_pages(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, "tests.server.minishop:app", env=APPS_ENV) as server:
        order = {"order_id": "1", "total": 12, "bad": False}
        r = httpx.post(
            server.url + "/api/streams/order-1",
            json={"events": [{"type": "OrderPlaced", "data": order}]},
        )
        assert r.status_code == 201

        def charged() -> bool:  # relayed to the bus, paid by the App's handler
            page = httpx.get(server.url + "/api/all?types=PaymentCharged").json()
            return bool(page["events"])

        wait_for(charged, "the payment")

        def projected() -> bool:
            (row,) = httpx.get(server.url + "/api/projections").json()["projections"]
            return bool(row["lag"] == 0 and row["checkpoint"] >= 1)

        wait_for(projected, "the projection")
        page = httpx.get(server.url + "/demos/minishop/")
        assert '<b id="order-count">1</b>' in page.text
        assert server.stop(signal.SIGTERM) == 0
        out = server.output()
    assert f"app minishop at http://127.0.0.1:{server.port}/demos/minishop/" in out
    assert "the apps' workers run in this process" in out
    assert "store sqlite:///eventflux.db, bus sqlite:///eventflux-bus.db" in out  # the App's URLs
    assert {"eventflux.db", "eventflux-bus.db", "minishop-read.db"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert "tokens .eventflux/tokens.db" in out  # where `eventflux token` looks too


def test_a_token_made_with_the_same_options_closes_a_server_of_apps(tmp_path: Path) -> None:
    created = run_cli("token", "create", "--scope", "read", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    with ServeProcess(tmp_path, "tests.server.minishop:app", env=APPS_ENV) as server:
        assert httpx.get(server.url + "/api/groups").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(server.url + "/api/groups", headers=auth).status_code == 200
        assert "OPEN server" not in server.output()


def test_no_workers_serves_the_app_without_running_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/shared.db"
    with ServeProcess(
        tmp_path, "tests.server.minishop:app", "--no-workers", "--store", store, env=APPS_ENV
    ) as server:
        assert httpx.get(server.url + "/api/groups").json() == {"groups": []}
        (row,) = httpx.get(server.url + "/api/projections").json()["projections"]
        assert row["status"] == "stopped"
        assert server.stop(signal.SIGTERM) == 0
        assert "workers run elsewhere (--no-workers)" in server.output()
        assert f"store {store}" in server.output()


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("os:path", "not an eventflux.App"),
        ("no_such_module_here:app", "cannot import"),
        ("tests.server.minishop:nothing", "has no attribute"),
    ],
)
def test_what_is_not_an_app_is_refused(tmp_path: Path, target: str, says: str) -> None:
    result = run_cli("serve", target, "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert not (tmp_path / "eventflux.db").exists()


def test_the_demo_lookup_skips_demos_that_do_not_exist() -> None:
    targets = demo_targets(
        [
            "tests.server.minishop",  # an App
            "eventflux.demos.not_yet_written",  # a demo to come
            "no_such_package.demo",  # not even its package
            "tests.server.conftest",  # a module without an App
        ]
    )
    assert [(t.app.name, t.module) for t in targets] == [("minishop", "tests.server.minishop")]


def test_a_signal_lets_a_running_handler_finish(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, "tests.server.slowapp:app", env=APPS_ENV) as server:
        r = httpx.post(
            server.url + "/api/publish/work.start", json={"data": {"job": 1, "seconds": 1.5}}
        )
        assert r.status_code == 202

        def started() -> bool:
            return httpx.get(server.url + "/api/streams/job-1").status_code == 200

        wait_for(started, "the handler")
        assert server.stop(signal.SIGTERM) == 0

    async def stored() -> list[str]:
        async with await open_store(f"sqlite:///{tmp_path}/eventflux.db") as store:
            return [e.type async for e in store.read_all()]

    assert asyncio.run(stored()) == ["Started", "Finished"]


def test_off_loopback_without_tokens_it_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "eventflux token create" in result.stderr
    assert "no tokens" in result.stderr


def test_with_no_argument_it_serves_the_demos_with_their_data_in_dot_eventflux(
    tmp_path: Path,
) -> None:
    for run in range(2):  # the second start finds the demos' data and adds none
        with ServeProcess(tmp_path) as server:
            r = httpx.post(
                server.url + "/api/streams/a-1", json={"events": [{"type": "A", "data": {}}]}
            )
            assert r.status_code == 201
            projections = httpx.get(server.url + "/api/projections").json()["projections"]
            assert {(p["name"], p["app"]) for p in projections} >= {
                ("bank-accounts", "bank"),
                ("shop-catalog", "shop"),
            }
            streams = {
                s["stream"]: s["version"] for s in httpx.get(server.url + "/api/streams").json()
            }
            assert streams["account-alice"] == 4
            assert streams["a-1"] == run + 1
            assert httpx.get(server.url + "/demos/bank/").status_code == 200
            assert server.stop(signal.SIGTERM) == 0
            out = server.output()
        assert f"dashboard at http://127.0.0.1:{server.port}/" in out
        assert f"app bank at http://127.0.0.1:{server.port}/demos/bank/" in out
        assert "OPEN server" in out
    assert {p.name for p in (tmp_path / ".eventflux").iterdir()} >= {
        "store.db",
        "bus.db",
        "tokens.db",
        "bank-read.db",
        "shop-read.db",
    }
    assert {p.name for p in tmp_path.iterdir() if p.suffix == ".db"} == set()


def test_naming_a_store_serves_it_alone_unless_demos_are_asked_for(tmp_path: Path) -> None:
    store, bus = f"sqlite:///{tmp_path}/mine.db", f"sqlite:///{tmp_path}/mine-bus.db"
    with ServeProcess(tmp_path, "--store", store, "--bus", bus) as server:
        assert httpx.get(server.url + "/api/projections").json() == {"projections": []}
        assert httpx.get(server.url + "/api/streams").json() == []
        assert server.stop(signal.SIGTERM) == 0
        assert "app bank" not in server.output()
    with ServeProcess(tmp_path, "--store", store, "--bus", bus, "--demos") as server:
        streams = {s["stream"] for s in httpx.get(server.url + "/api/streams").json()}
        assert "account-alice" in streams
        assert server.stop(signal.SIGTERM) == 0
    assert {"bank-read.db", "shop-read.db"} <= {p.name for p in tmp_path.iterdir()}
    result = run_cli("serve", "tests.server.minishop:app", "--demos", cwd=tmp_path)
    assert result.returncode == 2
    assert "--demos" in result.stderr


def test_with_a_token_the_server_needs_it(tmp_path: Path) -> None:
    created = run_cli("token", "create", "--scope", "read", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    with ServeProcess(tmp_path) as server:
        assert httpx.get(server.url + "/api/streams").status_code == 401
        ok = httpx.get(server.url + "/api/streams", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert "OPEN server" not in server.output()
        revoked = run_cli("token", "revoke", token.split("_")[1], cwd=tmp_path)
        assert revoked.returncode == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server's cache refreshes within a second
            r = httpx.get(server.url + "/api/streams", headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 401:
                break
            time.sleep(0.1)
        assert r.status_code == 401


def test_off_loopback_with_a_token_it_starts(tmp_path: Path) -> None:
    assert run_cli("token", "create", "--scope", "admin", cwd=tmp_path).returncode == 0
    with ServeProcess(tmp_path, "--host", "0.0.0.0") as server:
        assert httpx.get(server.url + "/api/streams").status_code == 401


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_the_request_in_flight_finish(tmp_path: Path, sig: int) -> None:
    with (
        ServeProcess(tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sse,
        socket.create_connection(("127.0.0.1", server.port)) as upload,
    ):
        host = f"Host: 127.0.0.1:{server.port}\r\n"
        sse.sendall(f"GET /api/subscribe HTTP/1.1\r\n{host}\r\n".encode())
        sse.settimeout(20)
        assert b"200 OK" in sse.recv(4096)
        body = b'{"events": [{"type": "Late", "data": {"pad": "' + b"x" * 1000 + b'"}}]}'
        upload.sendall(
            f"POST /api/streams/late-1 HTTP/1.1\r\n{host}".encode()
            + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        upload.settimeout(20)
        # "100 Continue" comes when the endpoint starts reading the body: in flight
        assert upload.recv(4096).startswith(b"HTTP/1.1 100")
        assert server.proc is not None
        server.proc.send_signal(sig)
        # the live feed ends with a last word; the upload still completes
        tail = b""
        while b"shutting down" not in tail:
            chunk = sse.recv(4096)
            if not chunk:
                break
            tail += chunk
        assert b"shutting down" in tail
        upload.sendall(body)
        answer = upload.recv(4096)
        assert answer.startswith(b"HTTP/1.1 201"), answer
        assert server.proc.wait(30) == 0
        assert "Finished server process" in server.output()
