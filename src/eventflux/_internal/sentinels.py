"""Named singleton values (``ANY``, ``STREAM_EXISTS``...) that survive pickling.

Example::

    ANY: Final = Sentinel("ANY", __name__)
    assert repr(ANY) == "ANY" and pickle.loads(pickle.dumps(ANY)) is ANY
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Sentinel"]


def _resolve(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


class Sentinel:
    """A unique marker value. ``repr`` is ``display`` (default: its name);
    unpickling returns the same object (the one bound to ``name`` in ``module``)."""

    __slots__ = ("_display", "_module", "_name")

    def __init__(self, name: str, module: str, display: str | None = None) -> None:
        self._name = name
        self._module = module
        self._display = display or name

    def __repr__(self) -> str:
        return self._display

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _resolve, (self._module, self._name)
