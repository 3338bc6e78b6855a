"""Errors of the message bus and the resilience tools (defined in
:mod:`eventflux.exceptions`, re-exported here for the bus modules)."""

from __future__ import annotations

from ..exceptions import AlreadyHandled, BusUnavailableError, CircuitOpenError, DeadLetterNotFound

__all__ = ["AlreadyHandled", "BusUnavailableError", "CircuitOpenError", "DeadLetterNotFound"]
