"""Public test helpers: the contract suites every backend runs.

These modules import pytest and hypothesis (the ``dev`` extra). A backend
author subclasses a contract class and provides one factory method::

    class TestMyStore(EventStoreContract):
        async def make_store(self, tmp_path, options=None, *, reopen=False):
            return EventStore(MyStoreBackend())
"""
