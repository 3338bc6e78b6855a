"""The errors of sagas, all :class:`~eventflux.EventfluxError` subclasses (defined in
:mod:`eventflux.exceptions` with every other error; named here too).

::

    EventfluxError
    └── SagaError                              a saga could not do what was asked
        ├── SagaNotFoundError (LookupError)    no instance of that saga with that key
        ├── DeadlineNotFoundError (LookupError)    no pending deadline by that name
        └── SagaKeyError (ValueError)          a key function gave no usable key

Mistakes in a saga class (two handlers for one event type, a ``@timeout`` name
given twice) are :class:`~eventflux.ConfigurationError`, raised when the class
is defined or registered.

Example::

    try:
        await admin.cancel("Fulfilment", "o-404")
    except SagaNotFoundError as e:
        print(e)
"""

from __future__ import annotations

from ..exceptions import DeadlineNotFoundError, SagaError, SagaKeyError, SagaNotFoundError

__all__ = ["DeadlineNotFoundError", "SagaError", "SagaKeyError", "SagaNotFoundError"]
