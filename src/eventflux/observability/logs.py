"""Structured logs: one JSON line per command, append, publish, delivery outcome,
retry, dead letter, breaker change, projection batch and saga step.

eventflux logs through the standard ``logging`` module (logger names under
``eventflux``), with structlog building each line: the event name plus
key-value fields (``correlation_id``, ``causation_id``, ids, stream, subject,
group, ``duration_ms``...). It never touches the root logger of an
application: :func:`configure_logging` (called by ``eventflux worker`` and
``eventflux serve``) adds one handler to the ``eventflux`` logger only when
neither it nor the root logger has a handler yet.

Environment: ``EVENTFLUX_LOG=json|console`` (default ``json``) and
``EVENTFLUX_LOG_LEVEL`` (default ``INFO``).

Example::

    log = get_logger("eventflux.app")
    log.info("command", command="Deposit", correlation_id="c-1", duration_ms=1.2)
    # {"event": "command", "command": "Deposit", "correlation_id": "c-1", ...}
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Final

import orjson
import structlog

__all__ = ["LOG_FORMATS", "configure_logging", "get_logger"]

LOG_FORMATS: Final = ("json", "console")


def _render_json(_: Any, __: str, event_dict: dict[str, Any]) -> str:
    return orjson.dumps(event_dict, default=str).decode()


def _renderer() -> Any:
    if os.environ.get("EVENTFLUX_LOG", "json").lower() == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return _render_json


def _processors() -> list[Any]:
    return [
        structlog.stdlib.filter_by_level,  # a disabled level costs one check
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _renderer(),
    ]


def get_logger(name: str = "eventflux", **bound: Any) -> Any:
    """A structlog logger writing through ``logging.getLogger(name)``, with
    ``bound`` fields on every line. Independent of the global structlog
    configuration of the application."""
    logger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=_processors(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**bound) if bound else logger


def configure_logging(level: str | None = None) -> None:
    """Send eventflux's log lines to stderr, one per line, unless the
    application has configured logging itself (a handler on the root logger or
    on ``eventflux``). ``level`` defaults to ``$EVENTFLUX_LOG_LEVEL``, else INFO."""
    wanted = (level or os.environ.get("EVENTFLUX_LOG_LEVEL") or "INFO").upper()
    package = logging.getLogger("eventflux")
    if logging.getLogger().handlers or package.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package.addHandler(handler)
    package.setLevel(wanted)
    package.propagate = False
