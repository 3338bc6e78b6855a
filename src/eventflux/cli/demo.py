"""``eventflux demo``: run the runnable demos and print what each did."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.text import Text

from ._common import console, run

#: demo name -> (module, attribute); modules expose TITLE and run(workdir) -> list[str]
DEMOS: dict[str, str] = {
    "emitter": "eventflux.demos.emitter_scenarios",
    "store": "eventflux.demos.store_tour",
    "bank": "eventflux.demos.bank",
    "shop": "eventflux.demos.shop",
    "trading": "eventflux.demos.trading",
    "orders": "eventflux.demos.orders",
    "smarthome": "eventflux.demos.smarthome",
    "chat": "eventflux.demos.chat",
}


def available() -> dict[str, Any]:
    """The demo modules that are installed, by name."""
    found: dict[str, Any] = {}
    for name, module in DEMOS.items():
        try:
            found[name] = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return found


async def _run_emitter(module: Any) -> list[tuple[str, list[str]]]:
    scenarios: dict[str, Callable[[], list[str]]] = module.SCENARIOS
    out = []
    for name, fn in scenarios.items():
        lines = await asyncio.to_thread(fn)  # scenarios may run their own event loop
        out.append((f"EventEmitter: {name}", lines))
    return out


async def _run_all(
    names: list[str], workdir: Path, options: dict[str, Any] | None = None
) -> list[tuple[str, list[str]]]:
    modules = available()
    sections: list[tuple[str, list[str]]] = []
    for name in names:
        module = modules[name]
        if name == "emitter":
            sections.extend(await _run_emitter(module))
            continue
        accepted = inspect.signature(module.run).parameters
        extra = {k: v for k, v in (options or {}).items() if k in accepted}
        result = module.run(workdir, **extra)
        lines = await result if inspect.isawaitable(result) else result
        sections.append((module.TITLE, lines))
    return sections


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        names: Annotated[
            list[str] | None,
            typer.Argument(help="Demos to run (default: all). Use --list to see them."),
        ] = None,
        workdir: Annotated[
            Path,
            typer.Option("--dir", help="Folder for the demos' SQLite files (emptied first)."),
        ] = Path(".eventflux-demo"),
        list_: Annotated[bool, typer.Option("--list", help="List the demos and exit.")] = False,
        workers: Annotated[
            int, typer.Option(min=1, help="orders: payments processes sharing the work.")
        ] = 3,
        orders: Annotated[int, typer.Option(min=1, help="orders: how many orders to place.")] = 200,
    ) -> None:
        """Run the demos on the embedded SQLite default and print what happened."""
        modules = available()
        if list_:
            for name, module in modules.items():
                title = getattr(module, "TITLE", "four in-process EventEmitter scenarios")
                console.print(f"[bold]{name}[/]  {title}")
            return
        chosen = names or list(modules)
        unknown = [n for n in chosen if n not in modules]
        if unknown:
            console.print(
                f"[red]unknown demo(s): {', '.join(unknown)}[/]; available: {', '.join(modules)}"
            )
            raise typer.Exit(2)
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        sections = run(_run_all(chosen, workdir, {"workers": workers, "orders": orders}))
        for title, lines in sections:
            body = Text("\n".join(lines))
            console.print(
                Panel(
                    body,
                    title=f"[bold cyan]{title}[/]",
                    title_align="left",
                    expand=console.is_terminal,
                )
            )
        console.print(
            f"[green]{len(sections)} demo sections ran.[/] "
            f"The SQLite files are in {workdir}/ (try: eventflux streams "
            f"--store sqlite:///{workdir}/store-events.db)"
        )
