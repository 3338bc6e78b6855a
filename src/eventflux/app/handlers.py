"""Command and query handler tables of an App: one handler per message type,
found by the message's class (or its nearest registered base class), called
with ``(message, ctx)`` (or ``(message)`` when it takes one argument), through
the App's middleware.

Example::

    table = HandlerTable("command")
    table.register(Deposit, deposit)          # async def deposit(cmd, ctx) -> ...
    result = await table.call(Deposit(...), ctx)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from types import CoroutineType
from typing import Any

from ..exceptions import HandlerAlreadyRegisteredError, NoHandlerError
from .context import Context

__all__ = ["HandlerTable", "Middleware", "Next", "accepts_context"]

#: What a middleware calls to pass the message on down the chain.
Next = Callable[[Any], Awaitable[Any]]
#: ``async def middleware(message, next) -> result``
Middleware = Callable[[Any, Next], Awaitable[Any]]


def accepts_context(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` takes a second positional argument (the Context)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    return variadic or len(positional) >= 2


async def call_handler(fn: Callable[..., Any], with_ctx: bool, message: Any, ctx: Context) -> Any:
    """Call a plain or async handler with ``(message, ctx)`` or ``(message)``."""
    result = fn(message, ctx) if with_ctx else fn(message)
    if type(result) is CoroutineType or inspect.isawaitable(result):
        result = await result
    return result


class HandlerTable:
    """One handler per message type, with middleware around every call."""

    def __init__(self, kind: str, middleware: Iterable[Middleware] = ()) -> None:
        self.kind = kind
        self._handlers: dict[type[Any], tuple[Callable[..., Any], bool]] = {}
        self._middleware = list(middleware)

    def register(self, message_type: type[Any], handler: Callable[..., Any]) -> None:
        """Register ``handler`` for ``message_type``; a second one is a
        :class:`~eventflux.HandlerAlreadyRegisteredError` (a ConfigurationError)."""
        if not isinstance(message_type, type):
            raise TypeError(f"{self.kind} types are classes, not {message_type!r}")
        if not callable(handler):
            raise TypeError(f"a {self.kind} handler must be callable, not {handler!r}")
        old = self._handlers.get(message_type)
        if old is not None:
            raise HandlerAlreadyRegisteredError(
                f"{message_type.__qualname__} already has a {self.kind} handler "
                f"({getattr(old[0], '__qualname__', old[0])}); each {self.kind} type has "
                "exactly one"
            )
        self._handlers[message_type] = (handler, accepts_context(handler))

    def use(self, middleware: Middleware) -> None:
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, not {middleware!r}")
        self._middleware.append(middleware)

    @property
    def message_types(self) -> tuple[type[Any], ...]:
        return tuple(self._handlers)

    def lookup(self, message_type: type[Any]) -> tuple[Callable[..., Any], bool]:
        """The handler for ``message_type`` (or its nearest registered base)."""
        for t in message_type.__mro__:
            found = self._handlers.get(t)
            if found is not None:
                return found
        raise NoHandlerError(self.kind, message_type)

    async def call(self, message: Any, ctx: Context) -> Any:
        """Run ``message`` through the middleware and its handler; return the result."""
        fn, with_ctx = self.lookup(type(message))

        async def innermost(m: Any) -> Any:
            return await call_handler(fn, with_ctx, m, ctx)

        chain: Next = innermost
        for mw in reversed(self._middleware):
            chain = _wrap(mw, chain)
        return await chain(message)


def _wrap(middleware: Middleware, inner: Next) -> Next:
    async def step(message: Any) -> Any:
        return await middleware(message, inner)

    return step
