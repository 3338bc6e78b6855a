"""The ``postgresql://`` store backend (the ``postgres`` extra): one global log
shared by many processes on many machines.

Modules: :mod:`.backend` (:class:`PostgresStoreBackend`), :mod:`.connections`
(the pool and driver errors), :mod:`.sql` (schema and statements),
:mod:`.writer` and :mod:`.plan` (group commit of appends), :mod:`.arrays`
(binary array parameters), :mod:`.reads` (decoding log pages),
:mod:`.listener` (LISTEN/NOTIFY wake-ups).

Example::

    async with await open_store("postgresql://app@db/shop?schema=orders") as store:
        await store.append("order-7", [NewEvent("Placed", {"total": 42})])
"""

from .backend import PostgresStoreBackend

__all__ = ["PostgresStoreBackend"]
