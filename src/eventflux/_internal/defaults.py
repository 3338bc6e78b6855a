"""Where an application's event store and message bus live when nobody says.

An URL given in code wins, then ``$EVENTFLUX_STORE`` / ``$EVENTFLUX_BUS``, then
SQLite files in the working folder. The App, ``eventflux worker`` and the
store and bus commands of the CLI all use these, so processes started in one
folder share one store and one bus.

Example::

    store_url(None)            # "sqlite:///eventflux.db" unless $EVENTFLUX_STORE is set
    bus_url("nats://h:4222")   # "nats://h:4222"
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["DEFAULT_BUS_URL", "DEFAULT_STORE_URL", "bus_url", "store_url"]

DEFAULT_STORE_URL: Final = "sqlite:///eventflux.db"
DEFAULT_BUS_URL: Final = "sqlite:///eventflux-bus.db"


def store_url(given: str | None = None) -> str:
    """The event store URL: ``given``, else ``$EVENTFLUX_STORE``, else the SQLite default."""
    return given or os.environ.get("EVENTFLUX_STORE") or DEFAULT_STORE_URL


def bus_url(given: str | None = None) -> str:
    """The message bus URL: ``given``, else ``$EVENTFLUX_BUS``, else the SQLite default."""
    return given or os.environ.get("EVENTFLUX_BUS") or DEFAULT_BUS_URL
