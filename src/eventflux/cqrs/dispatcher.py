"""The in-process dispatcher: the shared shape of the command bus and the query bus.

One handler per message type; a chain of middleware (``async def mw(message,
next)``) around every handler; dispatch by the message's class (or the nearest
registered base class). Not to be confused with :class:`eventflux.MessageBus`,
the broker between processes: a :class:`Dispatcher` calls a function in this
process and returns its result.

Example::

    commands = CommandBus(middleware=[logging_middleware()])  # a Dispatcher

    @commands.handler(Deposit)
    async def deposit(command: Deposit) -> int: ...

    balance = await commands.dispatch(Deposit("42", 100))
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from ..exceptions import HandlerAlreadyRegisteredError, NoHandlerError

__all__ = ["DispatchHandler", "Dispatcher", "Middleware", "Next"]

M = TypeVar("M")
H = TypeVar("H", bound=Callable[..., Any])
#: What a dispatcher routes a message to: it takes the message and returns a result
#: (or an awaitable of one).
DispatchHandler = Callable[[Any], Any]
#: What a middleware calls to pass the message on down the chain.
Next = Callable[[Any], Awaitable[Any]]
#: ``async def middleware(message, next) -> result``
Middleware = Callable[[Any, Next], Awaitable[Any]]


def _call(handler: DispatchHandler) -> Next:
    async def call(message: Any) -> Any:
        result = handler(message)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


def _wrap(middleware: Middleware, inner: Next) -> Next:
    async def step(message: Any) -> Any:
        return await middleware(message, inner)

    return step


class Dispatcher:
    """Routes each message type to its one handler through the middleware.

    The base of :class:`~eventflux.cqrs.CommandBus` and
    :class:`~eventflux.cqrs.QueryBus`; a subclass names its ``kind`` and
    defines ``dispatch``.
    """

    kind: ClassVar[str] = "message"

    def __init__(self, *, middleware: Iterable[Middleware] = ()) -> None:
        self._handlers: dict[type[Any], DispatchHandler] = {}
        self._middleware: list[Middleware] = list(middleware)
        self._chains: dict[type[Any], Next] = {}

    # -- registration -------------------------------------------------------------
    def register(self, message_type: type[M], handler: Callable[[M], Any]) -> Callable[[M], Any]:
        """Register ``handler`` (sync or async) for ``message_type``; returns it.

        A second handler for the same type raises :class:`HandlerAlreadyRegisteredError`.
        """
        if not isinstance(message_type, type):
            raise TypeError(f"{self.kind} types are classes, not {message_type!r}")
        if not callable(handler):
            raise TypeError(f"a {self.kind} handler must be callable, not {handler!r}")
        old = self._handlers.get(message_type)
        if old is not None:
            raise HandlerAlreadyRegisteredError(
                f"{message_type.__qualname__} already has a {self.kind} handler "
                f"({getattr(old, '__qualname__', old)}); each {self.kind} type has exactly one"
            )
        self._handlers[message_type] = handler
        self._chains.clear()
        return handler

    def handler(self, message_type: type[Any]) -> Callable[[H], H]:
        """Decorator form of :meth:`register`::

        @bus.handler(Deposit)
        async def deposit(command: Deposit) -> None: ...
        """

        def deco(fn: H) -> H:
            self.register(message_type, fn)
            return fn

        return deco

    def use(self, middleware: Middleware) -> Middleware:
        """Add a middleware; the first added is the outermost. Returns it."""
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, not {middleware!r}")
        self._middleware.append(middleware)
        self._chains.clear()
        return middleware

    @property
    def message_types(self) -> tuple[type[Any], ...]:
        """The message types that have a handler."""
        return tuple(self._handlers)

    def handles(self, message_type: type[Any]) -> bool:
        """True if a handler would receive messages of ``message_type``."""
        return any(t in self._handlers for t in message_type.__mro__)

    # -- dispatch -----------------------------------------------------------------
    def _chain_for(self, message_type: type[Any]) -> Next:
        chain = self._chains.get(message_type)
        if chain is None:
            handler = next(
                (self._handlers[t] for t in message_type.__mro__ if t in self._handlers), None
            )
            if handler is None:
                raise NoHandlerError(self.kind, message_type)
            chain = _call(handler)
            for mw in reversed(self._middleware):
                chain = _wrap(mw, chain)
            self._chains[message_type] = chain
        return chain

    async def _dispatch(self, message: object, metadata: Mapping[str, Any] | None) -> Any:
        raise NotImplementedError
