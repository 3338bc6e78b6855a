"""The public surface: __all__ is sorted, complete and importable."""

from __future__ import annotations

import inspect

import eventflux
from eventflux import exceptions


def test_all_is_sorted_and_unique() -> None:
    assert eventflux.__all__ == sorted(set(eventflux.__all__))


def test_every_name_in_all_exists() -> None:
    for name in eventflux.__all__:
        assert hasattr(eventflux, name), name


def test_every_exception_is_exported_and_derives_from_the_root() -> None:
    for name in exceptions.__all__:
        obj = getattr(exceptions, name)
        assert name in eventflux.__all__, f"{name} is not re-exported"
        if name == "MaxListenersExceededWarning":
            assert issubclass(obj, RuntimeWarning)
            continue
        assert issubclass(obj, eventflux.EventfluxError), name


def test_errors_that_match_a_builtin_derive_from_it() -> None:
    assert issubclass(eventflux.InvalidStreamName, ValueError)
    assert issubclass(eventflux.InvalidGroupName, ValueError)
    assert issubclass(eventflux.InvalidSubject, ValueError)
    assert issubclass(eventflux.SerializationError, TypeError)
    assert issubclass(eventflux.EventTooLargeError, ValueError)
    assert issubclass(eventflux.StoreBusyError, TimeoutError)
    assert issubclass(eventflux.MissingExtraError, ImportError)


def test_exception_tree_is_drawn_in_the_module_docstring() -> None:
    doc = inspect.getdoc(exceptions) or ""
    for name in exceptions.__all__:
        assert name in doc, f"{name} is missing from the tree in exceptions' docstring"


def test_sentinels() -> None:
    assert eventflux.NO_STREAM == 0
    assert repr(eventflux.ANY) == "ANY"
    assert repr(eventflux.STREAM_EXISTS) == "STREAM_EXISTS"
    assert eventflux.ANY is not eventflux.STREAM_EXISTS


def test_importing_eventflux_loads_no_driver() -> None:
    import subprocess
    import sys

    code = (
        "import sys, eventflux; "
        "print(sorted(m for m in ('sqlite3', 'psycopg', 'nats', 'starlette', 'typer') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_control_signals_are_not_errors() -> None:
    for signal in (eventflux.Reject, eventflux.AlreadyHandled):
        assert not issubclass(signal, eventflux.EventfluxError)
        assert not issubclass(signal, eventflux.BusError)
    assert issubclass(eventflux.HandlerAlreadyRegisteredError, eventflux.ConfigurationError)


def test_every_error_name_ends_in_error_but_the_contract_names() -> None:
    contract = {  # names DESIGN.md fixes for the acceptance suites
        "InvalidStreamName",
        "InvalidEventType",
        "InvalidSubject",
        "InvalidGroupName",
        "UnhandledErrorEvent",
        "MaxListenersExceededWarning",
    }
    for name in exceptions.__all__:
        assert name.endswith("Error") or name in contract, name
