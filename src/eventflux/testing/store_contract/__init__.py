"""The event store contract: one suite, run against every backend.

Subclass :class:`EventStoreContract` in a test module and implement
``make_store``; every test of the port then runs against your backend. The
suite uses public names only (the :class:`~eventflux.store.EventStore` facade
and what ``eventflux`` exports), so it runs against any backend that
implements :class:`~eventflux.store.backend.StoreBackend`::

    class TestMyStore(EventStoreContract):
        async def make_store(self, tmp_path, options=None, *, reopen=False):
            limits = {name: int(value) for name, value in (options or {}).items()}
            return EventStore(MyBackend(), **limits)

See docs/backends.md.
"""

from ._base import ContractBase
from .admin import AdminContract
from .append import AppendContract
from .correlation import CorrelationContract
from .inputs import InputContract
from .integers import IntegerContract
from .read import ReadContract
from .stateful import StatefulContract
from .subscribe import SubscribeContract

__all__ = ["ContractBase", "EventStoreContract"]


class EventStoreContract(
    AppendContract,
    CorrelationContract,
    ReadContract,
    SubscribeContract,
    AdminContract,
    InputContract,
    IntegerContract,
    StatefulContract,
):
    """Every behaviour of the event store (docs/store.md) that a backend must show."""
