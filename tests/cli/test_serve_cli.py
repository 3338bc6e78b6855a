"""``eventflux serve``: defaults, the URL, tokens, refusal off loopback, and a
graceful stop on SIGTERM and SIGINT (in-flight requests finish)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.server._proc import EVENTFLUX, ServeProcess


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EVENTFLUX, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_module_app_arguments_wait_for_the_app(tmp_path: Path) -> None:
    result = run_cli("serve", "shop:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "eventflux.App" in result.stderr
    assert not (tmp_path / ".eventflux").exists()


def test_off_loopback_without_tokens_it_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "eventflux token create" in result.stderr
    assert "no tokens" in result.stderr


def test_defaults_print_the_url_and_keep_files_in_dot_eventflux(tmp_path: Path) -> None:
    with ServeProcess(tmp_path) as server:
        r = httpx.post(
            server.url + "/api/streams/a-1", json={"events": [{"type": "A", "data": {}}]}
        )
        assert r.status_code == 201
        assert server.stop(signal.SIGTERM) == 0
        out = server.output()
    assert f"dashboard at http://127.0.0.1:{server.port}/" in out
    assert "OPEN server" in out
    assert {p.name for p in (tmp_path / ".eventflux").iterdir()} >= {
        "store.db",
        "bus.db",
        "tokens.db",
    }


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
