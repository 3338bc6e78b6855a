"""Sagas (process managers) with durable state and deadlines (DESIGN 3.6).

A saga reacts to store events and bus messages, keeps state, sends commands,
publishes messages and sets deadlines; one reaction commits as one unit, a
repeated input changes nothing, deadlines fire once and never early, and
compensations run newest first when the saga gives up or is cancelled.

Example::

    from eventflux.sagas import Saga, starts, handles, timeout

    class Fulfilment(Saga):
        @starts("OrderPlaced", key=lambda e: e.data["order_id"])
        async def placed(self, e):
            self.state["status"] = "reserving"
            self.send(ReserveStock(e.data["order_id"]))
            self.deadline(timedelta(minutes=15), "pay")

        @handles("PaymentCharged", key=lambda e: e.data["order_id"])
        async def paid(self, e):
            self.cancel_deadline("pay")
            self.finish("completed")

        @timeout("pay")
        async def unpaid(self):
            self.send(ReleaseStock(self.key))
            self.finish("cancelled")

    app.saga(Fulfilment)
    async with app.running():
        view = await app.saga_instance(Fulfilment, "o-1")

The layout: :mod:`.saga` (the base class), :mod:`.routes` (the decorators),
:mod:`.records` (the instance streams), :mod:`.reactor` (reactions),
:mod:`.feeder` (store events and due deadlines onto the bus),
:mod:`.admin` (listing, deadlines, cancelling), :mod:`.host` (``app.sagas``),
:mod:`.clock`, :mod:`.views`, :mod:`.errors`.
"""

from __future__ import annotations

from .admin import SagaAdmin, SagaRef, saga_name
from .clock import Clock, ManualClock, SystemClock
from .errors import DeadlineNotFoundError, SagaError, SagaKeyError, SagaNotFoundError
from .host import Sagas
from .inputs import saga_group, saga_subject
from .records import SAGA_EVENT_TYPES, key_token, stream_name
from .routes import handles, starts, timeout
from .saga import Reaction, Saga
from .views import PendingDeadline, SagaStep, SagaView

__all__ = [
    "Clock",
    "DeadlineNotFoundError",
    "ManualClock",
    "PendingDeadline",
    "Reaction",
    "SAGA_EVENT_TYPES",
    "Saga",
    "SagaAdmin",
    "SagaError",
    "SagaKeyError",
    "SagaNotFoundError",
    "SagaRef",
    "SagaStep",
    "SagaView",
    "Sagas",
    "SystemClock",
    "handles",
    "key_token",
    "saga_group",
    "saga_name",
    "saga_subject",
    "starts",
    "stream_name",
    "timeout",
]
