"""The ``memory://`` store backend: events in this process's memory.

Example::

    async with await open_store("memory://") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})])
"""

from .backend import MemoryStoreBackend

__all__ = ["MemoryStoreBackend"]
