"""The saga contract on the SQLite store and the SQLite bus (files shared by
the processes of one machine)."""

from __future__ import annotations

from tests.sagas._backends import OnSQLite

from eventflux.testing.saga_contract import SagaContract


class TestSagasOnSQLite(OnSQLite, SagaContract):
    pass
