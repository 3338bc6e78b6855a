"""``eventflux token create|list|revoke``: the server's API tokens.

Tokens live beside the store's files (``tokens.db`` in the folder of a SQLite
store, ``.eventflux/tokens.db`` for a memory store) or in the PostgreSQL
database of a ``postgresql://`` store; ``--tokens URL`` or ``$EVENTFLUX_TOKENS``
names another place. Only hashes are kept: ``create`` prints the token once.

Example::

    TOKEN=$(eventflux token create --scope write --prefix orders-)
    eventflux token list
    eventflux token revoke 3f2a9c81d4e0
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ..exceptions import MissingExtraError
from ._common import console, err_console, run

__all__ = ["register", "serve_store_url", "tokens_url"]

TokensOption = Annotated[
    str | None,
    typer.Option(
        "--tokens",
        help="Token store URL (default: $EVENTFLUX_TOKENS, else beside the store's files).",
        show_default=False,
    ),
]
ServeStoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Event store URL (default: $EVENTFLUX_STORE, else sqlite:///.eventflux/store.db).",
        show_default=False,
    ),
]


def _server() -> Any:
    try:
        from .. import server
    except ImportError as e:
        raise MissingExtraError("the eventflux server", "server", e.name or "starlette") from e
    return server


def serve_store_url(url: str | None) -> str:
    """The store URL of ``serve`` and ``token``: the option, $EVENTFLUX_STORE, or
    ``sqlite:///.eventflux/store.db``."""
    return url or os.environ.get("EVENTFLUX_STORE") or _server().DEFAULT_STORE_URL


def tokens_url(url: str | None, store: str | None) -> str:
    """Where the tokens are: the option, $EVENTFLUX_TOKENS, or beside the store."""
    return (
        url or os.environ.get("EVENTFLUX_TOKENS") or _server().token_url_for(serve_store_url(store))
    )


async def _create(url: str, scope: str, prefix: str, name: str) -> None:
    server = _server()
    tokens = await server.open_token_store(url)
    try:
        token, info = await tokens.create(server.Scope(scope), prefix=prefix, name=name)
    finally:
        await tokens.close()
    typer.echo(token)
    err_console.print(
        f"token {info.id} ({info.scope.value}"
        + (f", prefix {escape(info.prefix)!r}" if info.prefix else "")
        + f") created in {escape(tokens.location)}; it is shown once: keep it now",
        highlight=False,
    )


async def _list(url: str, include_revoked: bool, as_json: bool) -> None:
    server = _server()
    tokens = await server.open_token_store(url)
    try:
        infos = await tokens.list(include_revoked=include_revoked)
    finally:
        await tokens.close()
    if as_json:
        for i in infos:
            record = {
                "id": i.id,
                "scope": i.scope.value,
                "prefix": i.prefix,
                "name": i.name,
                "created_at": i.created_at,
                "revoked_at": i.revoked_at,
            }
            typer.echo(orjson.dumps(record, option=orjson.OPT_UTC_Z).decode())
        return
    table = Table(title=f"{len(infos)} token(s) in {escape(tokens.location)}", title_justify="left")
    for column in ("id", "scope", "prefix", "name", "created (UTC)", "revoked (UTC)"):
        table.add_column(column, overflow="fold")
    for i in infos:
        revoked = "" if i.revoked_at is None else i.revoked_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            i.id,
            i.scope.value,
            escape(i.prefix),
            escape(i.name),
            i.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            revoked,
        )
    console.print(table)


async def _revoke(url: str, token_id: str) -> None:
    server = _server()
    tokens = await server.open_token_store(url)
    try:
        done = await tokens.revoke(token_id)
    finally:
        await tokens.close()
    if not done:
        err_console.print(
            f"no active token with id {escape(token_id)!r}; see: eventflux token list",
            highlight=False,
        )
        raise typer.Exit(1)
    err_console.print(f"token {escape(token_id)} revoked", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``eventflux token create|list|revoke`` to ``app``."""
    group = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
    app.add_typer(group, name="token")

    @group.command()
    def create(
        scope: Annotated[
            str,
            typer.Option(
                "--scope",
                help="read, write (also appends and publishes) or admin (also dead letters).",
            ),
        ],
        prefix: Annotated[
            str, typer.Option(help="Limit the token to stream names and subjects starting so.")
        ] = "",
        name: Annotated[str, typer.Option(help="A note: who or what uses the token.")] = "",
        store: ServeStoreOption = None,
        tokens: TokensOption = None,
    ) -> None:
        """Create a token and print it (once: only its hash is kept)."""
        if scope not in ("read", "write", "admin"):
            raise typer.BadParameter("--scope must be read, write or admin")
        run(_create(tokens_url(tokens, store), scope, prefix, name))

    @group.command("list")
    def list_(
        include_revoked: Annotated[bool, typer.Option("--all", help="Also revoked ones.")] = False,
        store: ServeStoreOption = None,
        tokens: TokensOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    ) -> None:
        """List the tokens (never their secrets)."""
        run(_list(tokens_url(tokens, store), include_revoked, as_json))

    @group.command()
    def revoke(
        token_id: Annotated[str, typer.Argument(help="The token's id (see: token list).")],
        store: ServeStoreOption = None,
        tokens: TokensOption = None,
    ) -> None:
        """Revoke a token: the server refuses it within a second."""
        run(_revoke(tokens_url(tokens, store), token_id))
