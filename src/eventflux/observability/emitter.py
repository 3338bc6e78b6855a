"""Recording an in-process emitter: who emitted what, and which listener ran,
drawn as the same kind of Mermaid sequence diagram as a causal chain.

:func:`record` sets a tracer on one or more emitters (it costs nothing on
emitters that are not recorded). Each emit is drawn as an arrow from the
object whose method emitted (its class name; a module-level caller is the
``origin``) to the emitter; when that object's method was not the emitter's
own code, an arrow from the ``origin`` names the method that was called.
Each listener call is an arrow from the emitter to the listener's owner (the
class of a bound method, or the class a function is defined in, else the
function's name).

Example::

    with record(app.events, origin="User") as rec:
        app.send_message("ada", "Hello!")
    print(rec.mermaid())
    # sequenceDiagram
    #     participant P0 as User
    #     participant P1 as ChatApp
    #     participant P2 as EventEmitter
    #     participant P3 as MessageService
    #     P0->>P1: send_message
    #     P1->>P2: emit message
    #     P2->>P3: on_message
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Final, Self

from ..emitter import EventEmitter

__all__ = ["EmitterRecording", "Step", "record"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 _.:/@+\-]")


@dataclass(frozen=True, slots=True)
class Step:
    """One arrow: ``source`` called ``target`` (``kind``: call, emit or listener)."""

    kind: str
    source: str
    target: str
    label: str


def _label(text: str) -> str:
    return _UNSAFE.sub("_", text)[:80] or "_"


def _owner(listener: Callable[..., Any]) -> str:
    bound = getattr(listener, "__self__", None)
    if bound is not None and not isinstance(bound, type):
        return type(bound).__name__
    qualname = getattr(listener, "__qualname__", None) or type(listener).__qualname__
    parts = [p for p in qualname.split(".") if p != "<locals>"]
    return parts[-2] if len(parts) >= 2 and parts[-2][:1].isupper() else parts[-1]


def _method_name(listener: Callable[..., Any]) -> str:
    return getattr(listener, "__name__", None) or type(listener).__name__


class EmitterRecording:
    """The steps recorded from a set of emitters, until :meth:`stop`."""

    def __init__(self, emitters: dict[EventEmitter, str], origin: str) -> None:
        self.emitters = emitters
        self.origin = origin
        self.steps: list[Step] = []
        self._last_frame: FrameType | None = None
        for emitter in emitters:
            emitter.set_tracer(self)

    # -- the tracer hooks ------------------------------------------------------------------
    def on_emit(
        self,
        emitter: EventEmitter,
        name: Hashable,
        args: tuple[Any, ...],
        caller: FrameType | None,
    ) -> None:
        target = self.emitters[emitter]
        source = self.origin
        owner = caller.f_locals.get("self") if caller is not None else None
        if owner is not None and caller is not None:
            source = type(owner).__name__
            if caller is not self._last_frame:  # one arrow per method call, not per emit
                self._last_frame = caller
                self.steps.append(Step("call", self.origin, source, caller.f_code.co_name))
        self.steps.append(Step("emit", source, target, f"emit {name}"))

    def on_listener(
        self, emitter: EventEmitter, name: Hashable, listener: Callable[..., Any]
    ) -> None:
        self.steps.append(
            Step("listener", self.emitters[emitter], _owner(listener), _method_name(listener))
        )

    # -- results ---------------------------------------------------------------------------
    def mermaid(self) -> str:
        """The recorded steps as a Mermaid ``sequenceDiagram``."""
        keys: dict[str, str] = {}
        for step in self.steps:
            for who in (step.source, step.target):
                keys.setdefault(who, f"P{len(keys)}")
        lines = ["sequenceDiagram"]
        lines += [f"    participant {key} as {_label(who)}" for who, key in keys.items()]
        for step in self.steps:
            arrow = "-->>" if step.kind == "listener" else "->>"
            lines.append(f"    {keys[step.source]}{arrow}{keys[step.target]}: {_label(step.label)}")
        return "\n".join(lines)

    def participants(self) -> list[str]:
        """Who appears in the diagram, in order of appearance."""
        seen: dict[str, None] = {}
        for step in self.steps:
            seen.setdefault(step.source)
            seen.setdefault(step.target)
        return list(seen)

    def stop(self) -> None:
        """Stop recording (the emitters run untraced again)."""
        for emitter in self.emitters:
            emitter.set_tracer(None)
        self._last_frame = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def record(
    *emitters: EventEmitter, origin: str = "User", names: dict[EventEmitter, str] | None = None
) -> EmitterRecording:
    """Record every emit and listener call of ``emitters`` (until ``stop()`` or
    the end of a ``with`` block). An emitter is drawn as ``names[emitter]``,
    else ``EventEmitter`` (``AsyncEventEmitter``...), numbered when several
    share a class."""
    if not emitters:
        raise ValueError("record() needs at least one emitter")
    labels: dict[EventEmitter, str] = {}
    for e in emitters:
        if not isinstance(e, EventEmitter):
            raise TypeError(f"record() takes emitters, not {e!r}")
        base = (names or {}).get(e) or next(
            c.__name__ for c in type(e).__mro__ if c.__module__.startswith("eventflux")
        )
        label = base
        n = 2
        while label in labels.values():
            label = f"{base} {n}"
            n += 1
        labels[e] = label
    return EmitterRecording(labels, origin)
