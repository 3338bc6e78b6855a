"""Start a real, throw-away PostgreSQL 15 server for tests and benchmarks.

The server lives in a temporary folder (``initdb`` with trust authentication),
listens on 127.0.0.1 on a free port, and is stopped by its PID. PostgreSQL
refuses to run as root, so as root the folder is handed to the ``postgres``
user and the binaries run as that user; otherwise they run as the current user.

Binaries come from ``/usr/lib/postgresql/15/bin``, or from the folder named by
``EVENTFLUX_PG_BIN``. Missing binaries are an error with a clear message (the
tests that need the server fail rather than skip).

Example::

    with PostgresServer() as server:
        url = server.url()          # postgresql://postgres@127.0.0.1:PORT/postgres
        server.restart()            # same port, same data
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers._shared import ManagedServer, SharedServer, free_port

__all__ = ["PostgresServer", "PostgresServerError", "pg_server", "shared_server"]

DEFAULT_BIN = "/usr/lib/postgresql/15/bin"


class PostgresServerError(RuntimeError):
    """The test server could not be set up, started or stopped."""


class PostgresServer(ManagedServer):
    """One PostgreSQL server in a temporary folder.

    ``fsync`` is on by default (the crash tests rely on real durability);
    ``settings`` adds ``-c name=value`` server settings.
    """

    def __init__(
        self,
        *,
        fsync: bool = True,
        bin_dir: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bin_dir = Path(bin_dir or os.environ.get("EVENTFLUX_PG_BIN") or DEFAULT_BIN)
        self.fsync = fsync
        self.settings = dict(settings or {})
        self.port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, Any] = {}

    # -- paths ----------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "the server was not set up"
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None, "the server was not set up"
        return self.root / "sock"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "the server was not set up"
        return self.root / "server.log"

    @property
    def pid(self) -> int | None:
        """The PID of the running postmaster, or None."""
        return None if self.proc is None else self.proc.pid

    def url(self, dbname: str = "postgres", **options: str) -> str:
        """A ``postgresql://`` URL for this server, with optional query options."""
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}" + (
            "?" + query if query else ""
        )

    # -- set-up ---------------------------------------------------------------------
    def _binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not os.access(path, os.X_OK):
            raise PostgresServerError(
                f"PostgreSQL server binary {path} is missing. Install PostgreSQL 15 "
                "(Debian: apt-get install postgresql-15; `bash scripts/test` does it as root) "
                "or point EVENTFLUX_PG_BIN at the folder holding initdb and postgres."
            )
        return str(path)

    def _init(self) -> None:
        initdb = self._binary("initdb")
        self._binary("postgres")
        self.root = Path(tempfile.mkdtemp(prefix="eventflux-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresServerError(
                    "running as root, but there is no 'postgres' user to run the server as "
                    "(PostgreSQL refuses to run as root); install the postgresql-15 package"
                ) from None
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.socket_dir.mkdir()
        if self._user:
            os.chown(self.socket_dir, self._user["user"], self._user["group"])
        self.port = free_port()
        result = subprocess.run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            capture_output=True,
            cwd=self.root,
            env=self._env(),
            check=False,
            **self._user,
        )
        if result.returncode != 0:
            raise PostgresServerError(
                f"initdb failed ({result.returncode}):\n{result.stdout.decode()}\n"
                f"{result.stderr.decode()}"
            )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self._user:
            env["HOME"] = str(self.root)
        return env

    # -- running --------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the server (setting up its folder on first use) and wait until it
        accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.root is None:
            self._init()
        args = [
            self._binary("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"fsync={'on' if self.fsync else 'off'}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "log_min_messages=warning",
            "-c",
            "log_min_error_statement=panic",
        ]
        for name, value in self.settings.items():
            args += ["-c", f"{name}={value}"]
        log = open(self.log_file, "ab")  # noqa: SIM115 - the child owns it from here
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env(),
                start_new_session=True,
                **self._user,
            )
        finally:
            log.close()
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise PostgresServerError(
                    f"PostgreSQL exited with {self.proc.returncode} while starting:\n"
                    + self.log_tail()
                )
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as e:
                last = e
                time.sleep(0.05)
        raise PostgresServerError(
            f"PostgreSQL did not accept connections within {timeout} s ({last}):\n"
            + self.log_tail()
        )

    def stop(self, *, timeout: float = 30.0, immediate: bool = False) -> None:
        """Stop the server by its PID: a fast shutdown (SIGINT), or an immediate
        one (SIGQUIT) when ``immediate``; SIGKILL if it does not exit in time."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            except ProcessLookupError:
                pass
        self.proc = None

    def restart(self, *, immediate: bool = False) -> None:
        """Stop the server and start it again on the same port with the same data."""
        self.stop(immediate=immediate)
        self.start()

    def close(self) -> None:
        """Stop the server and remove its folder (an immediate stop: its data is
        thrown away, so the shutdown checkpoint would be wasted time)."""
        try:
            self.stop(immediate=True)
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None


# -- one server per test session, shared by every test module that asks ----------------
_shared = SharedServer(lambda: PostgresServer(fsync=True))


def shared_server() -> PostgresServer:
    """Start (once per process) and return the server the tests share."""
    return _shared.acquire()


def release_shared_server() -> None:
    """Give back :func:`shared_server`; the last user stops it and removes its folder."""
    _shared.release()


def _fixture() -> Iterator[PostgresServer]:
    server = shared_server()
    try:
        # the shared server may have been stopped by a restart test: bring it back
        server.start()
        yield server
    finally:
        release_shared_server()


try:
    import pytest
except ImportError:  # pragma: no cover - the benchmarks import this without pytest
    pass
else:
    pg_server = pytest.fixture(scope="session", name="pg_server")(_fixture)
