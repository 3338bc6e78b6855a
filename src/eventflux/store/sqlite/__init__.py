"""The ``sqlite://`` store backend: an embedded, durable event store in one file.

Modules: :mod:`.backend` (:class:`SQLiteStoreBackend`), :mod:`.schema` (the
file's schema and the store's SQLite errors), :mod:`.reads` and
:mod:`.writes` (the queries), :mod:`.watcher` (commits of other connections).

Example::

    async with await open_store("sqlite:///bank.db") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})])
"""

from .backend import SQLiteStoreBackend

__all__ = ["SQLiteStoreBackend"]
