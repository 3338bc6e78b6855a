"""``eventflux demo``: run the runnable demos and print what each did.

The demos write SQLite files into ``--dir`` (default ``.eventflux-demo``): a
new or empty folder, or one they used before. A marker file in it lists the
files they wrote; a later run removes those and nothing else, and a folder
that is neither empty nor theirs is refused untouched.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.text import Text

from ..exceptions import ConfigurationError
from ._common import console, err_console, run

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


#: The file that marks a folder as the demos' own; it lists the files they wrote.
MARKER = ".eventflux-demo.json"


def _sidecars(name: str) -> list[str]:
    return [name, f"{name}-wal", f"{name}-shm", f"{name}-journal"]


def prepare_folder(workdir: Path) -> tuple[Path, set[str]]:
    """Get ``workdir`` ready for the demos without touching anything else: create
    it if missing; in a folder the demos used before (it holds the marker),
    remove only the files they wrote; refuse any other non-empty folder.
    Returns the folder and the names it held before the run."""
    marker = workdir / MARKER
    if workdir.exists() and not workdir.is_dir():
        raise ConfigurationError(f"{workdir} is a file, not a folder; pick another --dir")
    if workdir.is_dir():
        present = {entry.name for entry in workdir.iterdir()}
        if present and MARKER not in present:
            raise ConfigurationError(
                f"{workdir} is not empty and is not a demo folder (it has no {MARKER}); "
                "the demos only use an empty or new folder, or one they made. "
                "Pick another --dir (default: .eventflux-demo)"
            )
        if MARKER in present:
            try:
                written = json.loads(marker.read_text(encoding="utf-8")).get("files", [])
            except (OSError, ValueError, AttributeError):
                written = []
            for name in written:
                if not isinstance(name, str) or Path(name).name != name or name == MARKER:
                    continue  # only plain file names in this folder, never the marker
                for candidate in _sidecars(name):
                    path = workdir / candidate
                    if path.is_file() and not path.is_symlink():
                        path.unlink()
    else:
        workdir.mkdir(parents=True)
    marker.write_text(json.dumps({"files": []}), encoding="utf-8")
    return workdir, {entry.name for entry in workdir.iterdir()}


def record_files(workdir: Path, before: set[str]) -> None:
    """List in the marker the files this run of the demos wrote."""
    written = sorted(
        entry.name
        for entry in workdir.iterdir()
        if entry.name not in before
        and entry.is_file()
        and not entry.name.endswith(("-wal", "-shm", "-journal"))
    )
    (workdir / MARKER).write_text(json.dumps({"files": written}, indent=1), encoding="utf-8")


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        names: Annotated[
            list[str] | None,
            typer.Argument(help="Demos to run (default: all). Use --list to see them."),
        ] = None,
        workdir: Annotated[
            Path,
            typer.Option(
                "--dir",
                help="Folder for the demos' SQLite files: new or empty, or one the demos "
                f"made before (it holds {MARKER}); they write and remove only their own files.",
            ),
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
        try:
            folder, before = prepare_folder(workdir)
        except ConfigurationError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(2) from None
        try:
            sections = run(_run_all(chosen, folder, {"workers": workers, "orders": orders}))
        finally:
            record_files(folder, before)
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
            f"The SQLite files are in {folder}/ (try: eventflux streams "
            f"--store sqlite:///{folder}/store-events.db)"
        )
