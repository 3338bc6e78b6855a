"""The in-memory bus backend (``memory://``): :class:`MemoryBusBackend`."""

from .backend import MemoryBusBackend

__all__ = ["MemoryBusBackend"]
