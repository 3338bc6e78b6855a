"""The ``eventflux`` command line.

Each area registers its commands from its own module (``demo``, ``store``...).
The CLI needs the ``cli`` extra (typer and rich).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .. import __version__
from ..exceptions import MissingExtraError

__all__ = ["main"]

#: modules under eventflux.cli that each define ``register(app)``
COMMAND_MODULES = (
    "demo", "store", "backup", "worker", "bus", "projections", "audit", "serve", "token",
    "sagas",
)  # fmt: skip


def build_app() -> object:
    """Build the typer application with every command group."""
    try:
        import typer
    except ImportError as e:  # pragma: no cover - exercised without the extra only
        raise MissingExtraError("the eventflux command line", "cli", "typer") from e
    _hide_flag_types()
    app = typer.Typer(
        name="eventflux",
        help="eventflux: event-driven architecture for Python, from one process to a cluster.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    def show_version(value: bool) -> None:
        if value:
            print(f"eventflux {__version__}")
            raise typer.Exit()

    @app.callback()
    def root(
        version: bool = typer.Option(
            False,
            "--version",
            callback=show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ) -> None:
        """eventflux: event-driven architecture for Python, from one process to a cluster."""

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(app)
    return app


def _hide_flag_types() -> None:
    """Show flags (``--json``, ``--help``) in help without a ``<bool>`` type: they
    take no value. Typer labels every option with its type."""
    from typer.core import TyperOption

    if getattr(TyperOption, "_eventflux_flags", False):
        return
    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        return shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    TyperOption._eventflux_flags = True  # type: ignore[attr-defined]


def main() -> None:
    """Entry point of the ``eventflux`` script."""
    try:
        app = build_app()
    except MissingExtraError as e:
        print(f"eventflux: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    app()  # type: ignore[operator]
