"""Driver errors of the NATS bus, translated at the backend boundary.

Example::

    with translated("listing dead letters"):
        rows = await meta.read_all("dlq.*.*")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import nats.errors

from ...exceptions import BusError, BusUnavailableError, EventfluxError

__all__ = ["DRIVER_ERRORS", "driver_error", "translated"]

#: What the NATS client raises when the server is away or slow.
DRIVER_ERRORS: Final = (nats.errors.Error, TimeoutError, OSError)


def driver_error(what: str, e: BaseException) -> BusError:
    """The eventflux error for a driver error."""
    if isinstance(e, nats.errors.MaxPayloadError):
        return BusError(f"{what} failed: the message is larger than the server allows")
    return BusUnavailableError(f"{what} failed: {type(e).__name__}: {e}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn driver errors into eventflux errors (for the paths that are not hot)."""
    try:
        yield
    except EventfluxError:
        raise
    except DRIVER_ERRORS as e:
        raise driver_error(what, e) from e
