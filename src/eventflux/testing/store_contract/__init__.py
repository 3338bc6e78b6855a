"""The event store contract: one suite, run against every backend.

Subclass :class:`EventStoreContract` in a test module and implement
``make_store``; every test of the port then runs against your backend.
"""

from ._base import ContractBase
from .admin import AdminContract
from .append import AppendContract
from .inputs import InputContract
from .read import ReadContract
from .stateful import StatefulContract
from .subscribe import SubscribeContract

__all__ = ["ContractBase", "EventStoreContract"]


class EventStoreContract(
    AppendContract,
    ReadContract,
    SubscribeContract,
    AdminContract,
    InputContract,
    StatefulContract,
):
    """Every behaviour of DESIGN.md 3.2 that a backend must show."""
