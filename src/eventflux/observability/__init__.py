"""Observability and audit: structured logs, tracing, metrics, causal chains.

Example::

    from eventflux.observability import get_logger

    log = get_logger("myapp")
    log.info("order placed", order_id=7)
"""

from __future__ import annotations

from .logs import configure_logging, get_logger

__all__ = ["configure_logging", "get_logger"]
