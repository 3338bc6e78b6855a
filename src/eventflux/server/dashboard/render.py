"""Rendering dashboard pages: the Jinja2 environment (autoescaped, strict), the
filters, the navigation and the security headers every page gets.

Untrusted text (stream names, event types, data, errors) reaches pages only
through autoescaped Jinja2 expressions, and the pages run no inline script
(the Content-Security-Policy forbids it), so event data can never execute.

Example::

    return await page(request, "streams.html", "/streams", streams=rows)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ..auth import Principal
from ..context import context_of
from ..jsonio import dumps
from ..module import NavLink

__all__ = [
    "Renderer",
    "SECURITY_HEADERS",
]

TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates"

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _compact(value: Any) -> str:
    text = dumps(value).decode()
    return text if len(text) <= 300 else text[:300] + "…"


def _pretty(value: Any) -> str:
    return orjson.dumps(
        orjson.loads(dumps(value)), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    ).decode()


def _query(values: Mapping[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "", False)})


class Renderer:
    """Renders the dashboard's templates (and those of added modules).

    ``first`` are folders searched before the dashboard's own templates (an
    App's pages), ``extra_dirs`` after them (modules' templates).
    """

    def __init__(
        self,
        nav: Sequence[NavLink],
        extra_dirs: Sequence[Path] = (),
        *,
        first: Sequence[Path] = (),
    ) -> None:
        self.nav = list(nav)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*first, TEMPLATES, *extra_dirs]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(when=_when, compact=_compact, pretty=_pretty, query=_query)
        self.env.globals["static"] = lambda name: f"/static/{name}"

    async def page(
        self,
        request: Request,
        template: str,
        current: str,
        *,
        principal: Principal | None,
        status: int = 200,
        live: str = "/live",
        **context: Any,
    ) -> HTMLResponse:
        """A full page (with navigation, the open-server banner and the live link)."""
        ctx = context_of(request)
        html = self.env.get_template(template).render(
            nav=self.nav,
            current=current,
            principal=principal,
            open_server=await ctx.auth.is_open(),
            live_url=live,
            status=status,
            title=context.pop("title", current.strip("/").replace("-", " ").title() or "Overview"),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def fragment(self, template: str, **context: Any) -> HTMLResponse:
        """A piece of a page, for htmx to swap in."""
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, headers=SECURITY_HEADERS)
