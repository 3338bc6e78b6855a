"""The message bus contract: one suite, run against every backend.

Subclass :class:`MessageBusContract` in a test module and implement
``make_bus``; every rule of DESIGN.md 3.3 then runs against your backend.
Durable backends (whose storage several handles or processes share) also
mix in :class:`DurableBusContract`, where ``make_bus(..., reopen=True)``
opens another handle on the same storage::

    class TestSQLiteBus(MessageBusContract, DurableBusContract):
        async def make_bus(self, tmp_path, options=None, *, reopen=False):
            return await open_bus(f"sqlite:///{tmp_path}/bus.db")

Every test uses public names only: the bus facade and, to simulate a
crashed member or a foreign producer, the public backend interface
(``bus.backend.join(...)``, ``bus.backend.publish(...)``). :mod:`.wrappers`
holds backends that pass every call on to another one, to watch the consumer
runtime through that interface.
"""

from ._base import (
    BusContractBase,
    Recorder,
    crashed_member,
    eventually,
    eventually_letters,
    fetch_one,
    handed_out_and_lost,
)
from .delivery import DeliveryContract
from .dlq import DeadLetterContract
from .durable import DurableBusContract
from .hanging import HangingHandlerContract
from .inputs import InputContract
from .introspection import IntrospectionContract
from .lifecycle import LifecycleContract
from .ordering import OrderingContract
from .retry import RetryContract

__all__ = [
    "BusContractBase",
    "DurableBusContract",
    "MessageBusContract",
    "Recorder",
    "crashed_member",
    "eventually",
    "eventually_letters",
    "fetch_one",
    "handed_out_and_lost",
]


class MessageBusContract(
    DeliveryContract,
    RetryContract,
    DeadLetterContract,
    OrderingContract,
    LifecycleContract,
    HangingHandlerContract,
    InputContract,
    IntrospectionContract,
):
    """Every behaviour of DESIGN.md 3.3 that a backend must show, and ``bus.groups()``."""
