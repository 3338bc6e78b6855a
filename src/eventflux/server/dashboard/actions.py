"""What the dashboard's forms do: log in and out, retry one dead letter, retry
the first N, purge. The dead-letter actions answer with the refreshed list
(an htmx fragment), also when refused, so the page says why.

Example::

    POST /dead-letters/retry-first   group=payments&n=10
"""

from __future__ import annotations

import asyncio
from typing import Final
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...bus import MessageBus
from ...exceptions import EventfluxError
from ..api.dlq import find_letter, visible_letters
from ..auth import COOKIE, Principal
from ..context import context_of
from ..errors import ApiError, error_for
from ..jsonio import read_body
from ..tokens import Scope
from .pages import letters_context
from .render import Renderer

__all__ = ["Actions", "form"]

_MAX_FORM: Final = 16 * 1024
_MAX_RETRY: Final = 10_000
#: how long an action waits for retried letters to be handled before it answers
_SETTLE: Final = 2.0


async def _settled(bus: MessageBus, ids: set[str]) -> None:
    """Wait (at most ``_SETTLE`` seconds) until the retried letters have left the
    queue, so the list the page gets back shows what the retry did."""
    loop = asyncio.get_running_loop()
    end = loop.time() + _SETTLE
    while ids and loop.time() < end:
        if not ids & {x.id for x in await bus.dlq.list()}:
            return
        await asyncio.sleep(0.05)


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the last value of each field)."""
    raw = await read_body(request, _MAX_FORM)
    try:
        fields = parse_qs(raw.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "BadRequest", "the form could not be read") from None
    return {k: v[-1] for k, v in fields.items()}


def _safe_next(target: str) -> str:
    # only paths of this site: never "//elsewhere" or "https://elsewhere"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class Actions:
    """Form handlers of the dashboard."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    async def login_page(self, request: Request) -> Response:
        ctx = context_of(request)
        if await ctx.auth.is_open():
            return RedirectResponse("/", 303)
        return await self.r.page(
            request, "login.html", "/login", principal=None, live="",
            next=_safe_next(request.query_params.get("next", "/")), error=None, title="Log in",
        )  # fmt: skip

    async def login(self, request: Request) -> Response:
        ctx = context_of(request)
        fields = await form(request)
        target = _safe_next(fields.get("next", "/"))
        record = await ctx.auth.verifier.verify(fields.get("token", "").strip())
        if record is None:
            return await self.r.page(
                request, "login.html", "/login", principal=None, live="", status=401,
                next=target, error="That token is not valid (unknown or revoked).",
                title="Log in",
            )  # fmt: skip
        response = RedirectResponse(target, 303)
        response.set_cookie(
            COOKIE,
            fields["token"].strip(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=30 * 24 * 3600,
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    async def _letters(
        self, request: Request, principal: Principal | None, group: str | None, message: str
    ) -> Response:
        if principal is None:
            return self.r.fragment(
                "_letters.html", letters=[], count=0, group=group, can_admin=False,
                message=message,
            )  # fmt: skip
        context = await letters_context(request, principal, group, message)
        return self.r.fragment("_letters.html", **context)

    async def _admin(
        self, request: Request
    ) -> tuple[Principal | None, dict[str, str], str | None, str]:
        """The caller (None if refused), the form, the group, and why if refused."""
        ctx = context_of(request)
        fields = await form(request)
        group = fields.get("group") or None
        try:
            principal = await ctx.auth.require(request, Scope.READ)
        except ApiError as e:
            return None, fields, group, e.message
        try:
            principal.check_scope(Scope.ADMIN)
        except ApiError as e:
            return principal, fields, group, e.message
        return principal, fields, group, ""

    async def retry(self, request: Request) -> Response:
        ctx = context_of(request)
        principal, fields, group, refused = await self._admin(request)
        if refused or principal is None:
            return await self._letters(request, principal, group, refused)
        letter_id = fields.get("id", "")
        try:
            letter = await find_letter(ctx.bus, letter_id)
            if letter is None:
                message = "That dead letter is gone (retried or purged meanwhile)."
            else:
                principal.check_name(letter.subject, "subject")
                await ctx.bus.dlq.retry(letter_id)
                await _settled(ctx.bus, {letter_id})
                message = f"Retried 1 dead letter ({letter.subject})."
        except (ApiError, EventfluxError) as e:
            message = _why(e)
        return await self._letters(request, principal, group, message)

    async def retry_first(self, request: Request) -> Response:
        ctx = context_of(request)
        principal, fields, group, refused = await self._admin(request)
        if refused or principal is None:
            return await self._letters(request, principal, group, refused)
        raw = fields.get("n", "")
        if not raw.isdigit() or not 1 <= int(raw[:6]) <= _MAX_RETRY:
            message = f"N must be a number from 1 to {_MAX_RETRY}."
            return await self._letters(request, principal, group, message)
        try:
            letters = await visible_letters(ctx.bus, principal, group, None, int(raw))
            retried: set[str] = set()
            for letter in letters:
                try:
                    await ctx.bus.dlq.retry(letter.id)
                    retried.add(letter.id)
                except EventfluxError:
                    continue  # handled or purged meanwhile
            await _settled(ctx.bus, set(retried))
            done = len(retried)
            message = f"Retried {done} dead letter(s)."
        except (ApiError, EventfluxError) as e:
            message = _why(e)
        return await self._letters(request, principal, group, message)

    async def purge(self, request: Request) -> Response:
        ctx = context_of(request)
        principal, _, group, refused = await self._admin(request)
        if refused or principal is None:
            return await self._letters(request, principal, group, refused)
        try:
            if principal.prefix:
                letters = await ctx.bus.dlq.list(group)
                if group is None or any(not principal.covers(x.subject) for x in letters):
                    raise ApiError(
                        403, "Forbidden", "this token may purge only a group within its prefix"
                    )
            purged = await ctx.bus.dlq.purge(group)
            message = f"Purged {purged} dead letter(s)."
        except (ApiError, EventfluxError) as e:
            message = _why(e)
        return await self._letters(request, principal, group, message)


def _why(e: Exception) -> str:
    error = e if isinstance(e, ApiError) else error_for(e)
    return error.message if error is not None else "the action failed; see the server log"
