"""The server's settings, its defaults and the loopback rule.

Example::

    settings = ServerSettings(max_body=4 * 1024 * 1024, host="0.0.0.0")
    assert not settings.loopback          # tokens are then required
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_BUS_URL",
    "DEFAULT_FOLDER",
    "DEFAULT_MAX_BODY",
    "DEFAULT_STORE_URL",
    "ServerSettings",
    "is_loopback",
]

#: Where ``eventflux serve`` keeps its SQLite files unless told otherwise.
DEFAULT_FOLDER: Final = ".eventflux"
DEFAULT_STORE_URL: Final = f"sqlite:///{DEFAULT_FOLDER}/store.db"
DEFAULT_BUS_URL: Final = f"sqlite:///{DEFAULT_FOLDER}/bus.db"
DEFAULT_MAX_BODY: Final = 2 * 1024 * 1024

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    """True if ``host`` (an address or name to bind) only reaches this machine.

    ``127.0.0.0/8``, ``::1`` and ``localhost`` are loopback; ``0.0.0.0``, ``::``
    and every other address or name are not.
    """
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What a server allows and how it paces live connections.

    ``max_body``: request bodies above it get 413 before they are read whole.
    ``max_json_depth``: deeper JSON is a 400. ``max_connections_per_token``:
    SSE and WebSocket connections one token (or the open server) may hold.
    ``keepalive``: seconds between SSE comment lines on an idle connection.
    ``live_queue``: events buffered per live connection; a reader that falls
    further behind is dropped (it resumes with ``Last-Event-ID``).
    ``drop_grace``: seconds a dropped reader gets to take its final comment.
    ``host``: the address the server is bound to (decides whether it may run
    open, without tokens). ``token_refresh``: seconds a token lookup is cached
    (a revoked token stops working within that time). ``workers``: whether the
    apps' workers run in the server process (``--no-workers`` turns it off).
    """

    max_body: int = DEFAULT_MAX_BODY
    max_json_depth: int = 64
    max_connections_per_token: int = 100
    keepalive: float = 15.0
    live_queue: int = 1024
    drop_grace: float = 5.0
    host: str = "127.0.0.1"
    token_refresh: float = 1.0
    workers: bool = True
    sse_retry_ms: int = 2000
    extra_hosts: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("max_body", "max_json_depth", "max_connections_per_token", "live_queue"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServerSettings.{name} must be a positive int, not {value!r}")
        for name in ("keepalive", "drop_grace", "token_refresh"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise ValueError(f"ServerSettings.{name} must be a positive number, not {value!r}")

    @property
    def loopback(self) -> bool:
        """True if the server is bound to a loopback address."""
        return is_loopback(self.host)
