"""The saga contract on the in-memory store and bus (one process's objects)."""

from __future__ import annotations

from tests.sagas._backends import InMemory

from eventflux.testing.saga_contract import SagaContract


class TestSagasInMemory(InMemory, SagaContract):
    pass
