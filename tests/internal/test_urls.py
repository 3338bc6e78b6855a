"""One URL rule set for every port: parsing, options, SQLite paths, backend lookup."""

from __future__ import annotations

import pytest

from eventflux import ConfigurationError, MissingExtraError, open_bus, open_store
from eventflux._internal.urls import (
    choice_option,
    float_option,
    int_option,
    parse_url,
    reject_unknown_options,
    resolve_backend,
    sqlite_path,
)


def test_sqlite_paths_follow_one_rule() -> None:
    assert sqlite_path("sqlite:///rel/events.db") == "rel/events.db"
    assert sqlite_path("sqlite:////abs/events.db") == "/abs/events.db"
    assert sqlite_path("sqlite:////abs/my%20events.db?x=1") == "/abs/my events.db"
    parts, _ = parse_url("sqlite:///bus.db?dedup_window=3")
    assert sqlite_path(parts) == "bus.db"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://host/x.db", "no host"),
        ("sqlite:///", "needs a file path"),
        ("sqlite://", "needs a file path"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://h/db", "expected a sqlite"),
        ("events.db", "a bare path"),
    ],
)
def test_bad_sqlite_urls_are_configuration_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        sqlite_path(url)


def test_options() -> None:
    _, options = parse_url("x://h/?a=3&b=0.5&c=FULL&d=")
    assert int_option(options, "a", 1) == 3
    assert float_option(options, "b", 1.0) == 0.5
    assert choice_option(options, "c", "normal", ("full", "normal")) == "full"
    assert int_option(options, "missing", 7) == 7
    with pytest.raises(ConfigurationError, match="unknown option"):
        reject_unknown_options(options, "x")
    for text, pop in (
        ("a=x", lambda o: int_option(o, "a", 1)),
        ("a=0", lambda o: int_option(o, "a", 1)),
        ("a=-1", lambda o: float_option(o, "a", 1.0)),
        ("a=inf", lambda o: float_option(o, "a", 1.0)),
        ("a=nan", lambda o: float_option(o, "a", 1.0)),
        ("a=odd", lambda o: choice_option(o, "a", "full", ("full",))),
    ):
        with pytest.raises(ConfigurationError):
            pop(parse_url(f"x://h/?{text}")[1])
    with pytest.raises(ConfigurationError, match="twice"):
        parse_url("x://h/?a=1&a=2")
    with pytest.raises(TypeError):
        parse_url(3)


def test_backend_lookup_names_the_known_schemes_and_hints_at_urls() -> None:
    backends = {"memory": ("eventflux.store.memory", "X", None, None)}
    with pytest.raises(ConfigurationError, match=r"known schemes: memory://"):
        resolve_backend("redis://h", backends, "thing")
    with pytest.raises(ConfigurationError, match=r"sqlite:///events\.db"):
        resolve_backend("events.db", backends, "thing")
    missing = {"x": ("eventflux.store.memory", "X", "extra-x", "no_such_driver_module")}
    with pytest.raises(MissingExtraError, match=r"pip install 'eventflux\[extra-x\]'"):
        resolve_backend("x://h", missing, "thing")


@pytest.mark.asyncio
async def test_store_and_bus_share_the_sqlite_rule(tmp_path: object) -> None:
    for opener in (open_store, open_bus):
        with pytest.raises(ConfigurationError, match="no host"):
            await opener("sqlite://host/x.db")
        with pytest.raises(ConfigurationError, match="needs a file path"):
            await opener("sqlite:///")
