"""The message bus contract: one suite, run against every backend.

Subclass :class:`MessageBusContract` in a test module and implement
``make_bus``; every rule of DESIGN.md 3.3 then runs against your backend.
Durable backends (whose storage several handles or processes share) also
mix in :class:`DurableBusContract`, where ``make_bus(..., reopen=True)``
opens another handle on the same storage::

    class TestSQLiteBus(MessageBusContract, DurableBusContract):
        async def make_bus(self, tmp_path, options=None, *, reopen=False):
            return await open_bus(f"sqlite:///{tmp_path}/bus.db")

Some tests drive the port's private hooks directly (``_join``, ``_fetch``,
``_publish``) to simulate a crashed member or a foreign producer.
"""

from ._base import BusContractBase, Recorder, eventually
from .delivery import DeliveryContract
from .dlq import DeadLetterContract
from .durable import DurableBusContract
from .inputs import InputContract
from .lifecycle import LifecycleContract
from .ordering import OrderingContract
from .retry import RetryContract

__all__ = [
    "BusContractBase",
    "DurableBusContract",
    "MessageBusContract",
    "Recorder",
    "eventually",
]


class MessageBusContract(
    DeliveryContract,
    RetryContract,
    DeadLetterContract,
    OrderingContract,
    LifecycleContract,
    InputContract,
):
    """Every behaviour of DESIGN.md 3.3 that a backend must show."""
