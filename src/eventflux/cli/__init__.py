"""The ``eventflux`` command line.

Each area registers its commands from its own module (``demo``, ``store``...).
The CLI needs the ``cli`` extra (typer and rich).
"""

from __future__ import annotations

import importlib
import sys

from ..exceptions import MissingExtraError

__all__ = ["main"]

#: modules under eventflux.cli that each define ``register(app)``
COMMAND_MODULES = (
    "demo", "store", "worker", "bus", "projections", "audit", "serve", "token", "sagas",
)  # fmt: skip


def build_app() -> object:
    """Build the typer application with every command group."""
    try:
        import typer
    except ImportError as e:  # pragma: no cover - exercised without the extra only
        raise MissingExtraError("the eventflux command line", "cli", "typer") from e
    app = typer.Typer(
        name="eventflux",
        help="eventflux: event-driven architecture for Python, from one process to a cluster.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(app)
    return app


def main() -> None:
    """Entry point of the ``eventflux`` script."""
    try:
        app = build_app()
    except MissingExtraError as e:
        print(f"eventflux: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    app()  # type: ignore[operator]
