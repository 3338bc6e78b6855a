"""What the test server helpers share: free ports and one server per process."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, Self, TypeVar


class _Server(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...


S = TypeVar("S", bound=_Server)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SharedServer(Generic[S]):
    """One server per process, started by its first user and closed by its last."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._server: S | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> S:
        with self._lock:
            if self._server is None:
                server = self._make()
                try:
                    server.start()
                except BaseException:
                    server.close()
                    raise
                self._server = server
            self._users += 1
            return self._server

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0 and self._server is not None:
                self._server.close()
                self._server = None
                self._users = 0


class ManagedServer:
    """What the throw-away servers have in common: a ``with`` block starts the
    server and closes it (also when starting fails), and its log can be quoted
    in error messages. Subclasses define ``start``, ``close`` and ``log_file``."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def log_file(self) -> Path:
        raise NotImplementedError

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log (for error messages)."""
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, AssertionError):  # no log yet, or no folder yet
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
