"""The chat's limits and timings, from keyword arguments or the environment.

Every server process of one chat should run with the same settings; the
``eventflux serve`` processes read them from the environment:

============================== ========================================== =========
variable                       what                                       default
============================== ========================================== =========
``EVENTFLUX_CHAT_PRESENCE``    seconds until a silent tab or a dead       30
                               server's members go offline
``EVENTFLUX_CHAT_HISTORY``     messages sent on join                      50
``EVENTFLUX_CHAT_MAX_TEXT``    characters in one message                  4000
``EVENTFLUX_CHAT_RATE``        operations per second per connection       5
``EVENTFLUX_CHAT_BURST``       operations a connection may send at once   20
``EVENTFLUX_CHAT_QUEUE``       frames waiting for a slow reader before    1024
                               it is dropped
============================== ========================================== =========

Example::

    settings = ChatSettings.from_env(presence_timeout=5.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from ...exceptions import ConfigurationError

__all__ = ["ENVIRONMENT", "ChatSettings"]

_DEFAULT_FRAME: Final = 32768

#: setting name -> the environment variable that sets it
ENVIRONMENT: Final = {
    "presence_timeout": "EVENTFLUX_CHAT_PRESENCE",
    "history": "EVENTFLUX_CHAT_HISTORY",
    "max_text": "EVENTFLUX_CHAT_MAX_TEXT",
    "rate": "EVENTFLUX_CHAT_RATE",
    "burst": "EVENTFLUX_CHAT_BURST",
    "queue": "EVENTFLUX_CHAT_QUEUE",
}


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """Limits and timings of one chat (every server process the same).

    ``presence_timeout``: a connection that sends nothing (no frame, not even
    a ping) for that long is closed and its member goes offline; a server
    process that stops sending heartbeats for that long is taken for dead,
    and its members go offline on the other processes. ``history``: messages
    sent on join (``max_page`` per page further back). ``max_text``: characters
    in one message; ``max_frame``: bytes in one frame from a client (a larger
    frame closes the connection). ``rate`` / ``burst``: the token bucket of
    each connection (operations per second, and at once). ``queue``: frames
    waiting for a reader that does not read; one more drops the connection
    (it reconnects and resumes from the store). ``typing_interval``: at most
    one typing notice per room and connection in that many seconds.
    """

    presence_timeout: float = 30.0
    history: int = 50
    max_page: int = 500
    max_text: int = 4000
    max_frame: int = _DEFAULT_FRAME
    rate: float = 5.0
    burst: int = 20
    queue: int = 1024
    typing_interval: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(
                    f"chat setting {f.name} must be a positive number, not {value!r}"
                )
        if self.max_text * 4 + 1024 > self.max_frame:
            raise ConfigurationError(
                f"max_frame ({self.max_frame} bytes) must hold a message of max_text "
                f"({self.max_text} characters, up to 4 bytes each) and its envelope"
            )

    @property
    def heartbeat(self) -> float:
        """How often a server process tells the others who is connected to it,
        and how often a client should ping: a third of the presence timeout."""
        return self.presence_timeout / 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ChatSettings:
        """The defaults, then the environment's ``EVENTFLUX_CHAT_*`` variables,
        then ``overrides``. A variable that is not a number is a ConfigurationError."""
        env = os.environ if environ is None else environ
        given: dict[str, Any] = {}
        for name, variable in ENVIRONMENT.items():
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            try:
                given[name] = float(raw) if name in ("presence_timeout", "rate") else int(raw)
            except ValueError:
                raise ConfigurationError(f"${variable} must be a number, not {raw!r}") from None
        given.update(overrides)
        if "max_text" in given and "max_frame" not in given:
            given["max_frame"] = max(_DEFAULT_FRAME, given["max_text"] * 4 + 1024)
        return cls(**given)

    def limits(self) -> dict[str, Any]:
        """What a client needs to know (sent in the welcome frame)."""
        return {
            "max_text": self.max_text,
            "max_frame": self.max_frame,
            "rate": self.rate,
            "burst": self.burst,
            "history": self.history,
            "max_page": self.max_page,
        }
