"""The HTTP API, the live feeds and the dashboard (``eventflux serve``).

Needs the ``server`` extra (Starlette, uvicorn, Jinja2). The ASGI app is built
from an open store and bus; :mod:`eventflux.cli.serve` runs it with uvicorn.

Example::

    from eventflux.server import ServerSettings, create_app

    app = create_app(store, bus, tokens=tokens, settings=ServerSettings(host="127.0.0.1"),
                     apps=[shop_app])   # eventflux.App objects: workers, pages, projections
"""

from __future__ import annotations

from .app import create_app
from .auth import Principal
from .context import ServerContext, context_of
from .errors import ApiError
from .module import NavLink, ServerModule
from .served import ServedApp, ServedApps
from .settings import DEFAULT_BUS_URL, DEFAULT_STORE_URL, ServerSettings, is_loopback
from .tokens import Scope, TokenInfo, TokenStore, open_token_store, token_url_for

__all__ = [
    "ApiError",
    "DEFAULT_BUS_URL",
    "DEFAULT_STORE_URL",
    "NavLink",
    "Principal",
    "Scope",
    "ServedApp",
    "ServedApps",
    "ServerContext",
    "ServerModule",
    "ServerSettings",
    "TokenInfo",
    "TokenStore",
    "context_of",
    "create_app",
    "is_loopback",
    "open_token_store",
    "token_url_for",
]
