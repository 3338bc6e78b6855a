"""Observability and audit: structured logs, tracing, metrics, causal chains.

Example::

    from eventflux.observability import get_logger

    log = get_logger("myapp")
    log.info("order placed", order_id=7)
"""

from __future__ import annotations

from .logs import configure_logging, get_logger
from .trace import Trace, TraceNode, build_trace, trace

__all__ = ["Trace", "TraceNode", "build_trace", "configure_logging", "get_logger", "trace"]
