"""The saga contract: one suite, run against every backend (DESIGN 3.6).

Subclass :class:`SagaContract` in a test module and implement
``open_backends``; every rule of 3.6 then runs on your store and bus::

    class TestSagasOnSQLite(SagaContract):
        async def open_backends(self, tmp_path, *, reopen=False):
            return (await open_store(f"sqlite:///{tmp_path}/events.db"),
                    await open_bus(f"sqlite:///{tmp_path}/bus.db"))

``reopen=True`` asks for handles on the same storage, as a later or a second
process would open them (a backend whose storage lives in one object sets
``durable = False`` and returns the same objects). The sagas run with a
:class:`~eventflux.sagas.ManualClock`: no test sleeps for a deadline.
"""

from ._base import (
    CommandLog,
    Flaky,
    Fulfilment,
    MessageLog,
    Renamed,
    Requests,
    Run,
    SagaContractBase,
    eventually,
)
from .deadlines import DeadlineContract
from .processes import ProcessContract
from .reactions import ReactionContract
from .routing import RoutingContract

__all__ = [
    "CommandLog",
    "DeadlineContract",
    "Flaky",
    "Fulfilment",
    "MessageLog",
    "ProcessContract",
    "ReactionContract",
    "Renamed",
    "Requests",
    "RoutingContract",
    "Run",
    "SagaContract",
    "SagaContractBase",
    "eventually",
]


class SagaContract(RoutingContract, ReactionContract, DeadlineContract, ProcessContract):
    """Every rule of DESIGN 3.6 that sagas must keep on a backend."""
