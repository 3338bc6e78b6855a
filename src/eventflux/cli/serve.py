"""``eventflux serve [module:app ...]``: the HTTP API, the dashboard and the
Apps' workers, with uvicorn.

With ``module:app`` arguments it serves those :class:`eventflux.App` objects:
one store and one bus shared by all of them (the first App's URLs unless
``--store``/``--bus``), their subscribers, relays, projections and tasks run
in this process (unless ``--no-workers``), their pages are mounted under
``/demos/<app name>``. With no argument it serves every demo App this
installation has (:mod:`eventflux.cli.serve_apps`: looked up at run time, a
demo that is not there is skipped), with their first data, on SQLite files in
``./.eventflux/``. Naming a store or a bus (``--store``/``--bus`` or
``$EVENTFLUX_STORE``/``$EVENTFLUX_BUS``) serves that store and bus alone:
the demos never write into a store of yours unless ``--demos`` asks for it.

It prints the dashboard URL, and stops gracefully on SIGTERM or SIGINT: it
stops accepting connections, ends live feeds with a last word (readers
resume with ``Last-Event-ID``), lets in-flight requests finish, stops the
Apps (running handlers finish), then closes the bus and the store.

Bound to loopback with no tokens the server is open (and says so); bound to
any other address it needs tokens (``eventflux token create``).

Example::

    eventflux serve
    eventflux serve myshop:app --port 8080
    eventflux serve --host 0.0.0.0 --port 8080 --store postgresql://app@db/shop \\
        --bus nats://nats:4222 --max-body 4194304
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import typer

from .._internal.urls import parse_url, sqlite_path
from ..bus import open_bus
from ..exceptions import EventfluxError, MissingExtraError
from ..store import open_store
from ._common import err_console
from .serve_apps import Target, app_targets, demo_targets
from .token import serve_store_url, tokens_url

__all__ = ["register", "serve_bus_url"]

log = logging.getLogger("eventflux.server")


def serve_bus_url(url: str | None) -> str:
    """The bus URL of ``serve``: the option, $EVENTFLUX_BUS, or ``sqlite:///.eventflux/bus.db``."""
    from ..server import DEFAULT_BUS_URL

    return url or os.environ.get("EVENTFLUX_BUS") or DEFAULT_BUS_URL


def _make_folder(url: str) -> None:
    parts, _ = parse_url(url)
    if parts.scheme.lower() == "sqlite":
        folder = os.path.dirname(sqlite_path(parts))
        if folder:
            os.makedirs(folder, exist_ok=True)


def _runner() -> asyncio.Runner:
    """An event loop runner: uvloop's loop when it is installed (as uvicorn would)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def _display_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, with signals on the running loop and a shutdown
        that first ends the live connections."""

        on_exit: Callable[[], None] = staticmethod(lambda: None)
        on_started: Callable[[int], None] = staticmethod(lambda port: None)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            handled = (signal.SIGINT, signal.SIGTERM)
            for sig in handled:
                loop.add_signal_handler(sig, self._signalled, sig)
            try:
                yield
            finally:
                for sig in handled:
                    loop.remove_signal_handler(sig)

        def _signalled(self, sig: int) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            self.on_exit()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and self.servers:
                port = self.servers[0].sockets[0].getsockname()[1]
                self.on_started(port)

    return Server


async def _serve(
    host: str,
    port: int,
    store_url: str,
    bus_url: str,
    token_url: str,
    max_body: int,
    workers: bool,
    log_level: str,
    targets: Sequence[Target] = (),
) -> None:
    try:
        import uvicorn

        from .. import server as web
        from ..server.http import HttpProtocol
    except ImportError as e:
        raise MissingExtraError("eventflux serve", "server", e.name or "starlette") from e
    served = [web.ServedApp.of(t.app, t.module, t.seed, t.routes) for t in targets]
    codec = next((t.app.codec for t in targets if t.app.codec is not None), None)
    settings = web.ServerSettings(max_body=max_body, host=host, workers=workers)
    tokens = await web.open_token_store(token_url)
    try:
        if not settings.loopback and not await tokens.list():
            err_console.print(
                f"[bold red]error:[/] refusing to serve on {host} with no tokens: anyone who "
                "reaches that address could read and write everything.\n"
                "Create a token first:  eventflux token create --scope admin"
                + ("" if token_url == tokens_url(None, None) else f" --tokens {token_url}")
                + "\n(or bind to 127.0.0.1 to run open on this machine only)",
                highlight=False,
            )
            raise typer.Exit(2)
        for url in (store_url, bus_url):
            _make_folder(url)
        store_cm = await open_store(store_url, codec=codec)
        async with store_cm as store, await open_bus(bus_url) as bus:
            app = web.create_app(store, bus, tokens=tokens, settings=settings, apps=served)
            ctx = app.state.eventflux
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                http=HttpProtocol,
                access_log=log_level.lower() in ("trace", "debug", "info"),
                lifespan="on",
                ws="websockets-sansio",
                log_level=log_level,
                ws_max_size=max_body,
                timeout_graceful_shutdown=30,
                server_header=False,
            )
            server = _server_class()(config)
            open_server = await ctx.auth.is_open()

            def started(bound: int) -> None:
                url = _display_url(host, bound)
                print(f"eventflux: dashboard at {url}", flush=True)
                print(f"eventflux: API at {url}api (OpenAPI: {url}api/openapi.json)", flush=True)
                print(f"eventflux: store {store_url}, bus {bus_url}", flush=True)
                print(f"eventflux: tokens {tokens.location}", flush=True)
                for one in served:
                    print(f"eventflux: app {one.name} at {url}{one.prefix[1:]}/", flush=True)
                if served:
                    where = "in this process" if workers else "elsewhere (--no-workers)"
                    print(f"eventflux: the apps' workers run {where}", flush=True)
                if open_server:
                    print(
                        "eventflux: OPEN server (loopback, no tokens): every local caller is "
                        "an admin; create a token with: eventflux token create --scope admin",
                        flush=True,
                    )

            pending: set[asyncio.Future[None]] = set()

            def exiting() -> None:
                task = asyncio.ensure_future(ctx.begin_shutdown())
                pending.add(task)
                task.add_done_callback(pending.discard)

            server.on_started = started
            server.on_exit = exiting
            await server.serve()
    finally:
        await tokens.close()


def register(app: typer.Typer) -> None:
    """Add ``eventflux serve`` to ``app``."""

    @app.command()
    def serve(
        apps: Annotated[
            list[str] | None,
            typer.Argument(help="module:app to serve (with eventflux.App).", show_default=False),
        ] = None,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="Port to bind.")] = 8000,
        store: Annotated[
            str | None,
            typer.Option(
                help="Event store URL (default: $EVENTFLUX_STORE, else "
                "sqlite:///.eventflux/store.db).",
                show_default=False,
            ),
        ] = None,
        bus: Annotated[
            str | None,
            typer.Option(
                help="Message bus URL (default: $EVENTFLUX_BUS, else sqlite:///.eventflux/bus.db).",
                show_default=False,
            ),
        ] = None,
        tokens: Annotated[
            str | None,
            typer.Option(
                help="Token store URL (default: $EVENTFLUX_TOKENS, else beside the store).",
                show_default=False,
            ),
        ] = None,
        max_body: Annotated[
            int, typer.Option("--max-body", min=1, help="Largest request body, in bytes.")
        ] = 2 * 1024 * 1024,
        workers: Annotated[
            bool,
            typer.Option("--workers/--no-workers", help="Run the apps' workers in this process."),
        ] = True,
        demos: Annotated[
            bool | None,
            typer.Option(
                "--demos/--no-demos",
                help="Serve the demo apps (default: with no module:app and no store or bus named).",
                show_default=False,
            ),
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    ) -> None:
        """Serve the HTTP API, the live dashboard and the apps (prints the URL)."""
        named = bool(
            store or bus or os.environ.get("EVENTFLUX_STORE") or os.environ.get("EVENTFLUX_BUS")
        )
        if demos and apps:
            raise typer.BadParameter("--demos serves the demo apps instead of module:app; give one")
        targets = app_targets(apps) if apps else []
        if not apps and (demos if demos is not None else not named):
            targets = demo_targets()
            # the demos' read models beside their store: in ./.eventflux/ by default
            store = store or serve_store_url(None)
            bus = bus or serve_bus_url(None)
            os.environ.setdefault("EVENTFLUX_STORE", store)
            os.environ.setdefault("EVENTFLUX_BUS", bus)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
        if not os.environ.get("EVENTFLUX_LOG_LEVEL"):  # not a line per command
            for name in ("eventflux.app", "eventflux.cqrs"):
                logging.getLogger(name).setLevel(logging.WARNING)
        store_url = store or (targets[0].app.store_url if apps else serve_store_url(None))
        bus_url = bus or (targets[0].app.bus_url if apps else serve_bus_url(None))
        try:
            with _runner() as runner:
                runner.run(
                    _serve(
                        host,
                        port,
                        store_url,
                        bus_url,
                        # where `eventflux token` looks with the same options: beside the
                        # store named (--store, $EVENTFLUX_STORE), else in ./.eventflux/
                        tokens_url(tokens, store),
                        max_body,
                        workers,
                        log_level,
                        targets,
                    )
                )
        except EventfluxError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
