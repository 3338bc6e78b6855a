"""The ready-made middleware: logging, validation, authorization."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import pytest

from eventflux.cqrs import (
    CommandBus,
    NotAuthorizedError,
    QueryBus,
    ValidationError,
    authorization_middleware,
    logging_middleware,
    validation_middleware,
)


@dataclass(frozen=True)
class Withdraw:
    account: str
    amount: Annotated[int, msgspec.Meta(gt=0)]

    def validate(self) -> list[str]:
        return ["account ids start with 'a'"] if not self.account.startswith("a") else []


class Rename(msgspec.Struct, frozen=True):
    account: str
    name: Annotated[str, msgspec.Meta(min_length=1)]


@dataclass(frozen=True)
class Free:
    anything: object


@pytest.mark.asyncio
async def test_logging_middleware_logs_successes_and_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = CommandBus(middleware=[logging_middleware()])
    bus.register(Rename, lambda c: None)

    def fail(c: Withdraw) -> None:
        raise RuntimeError("db down")

    bus.register(Withdraw, fail)
    with caplog.at_level(logging.INFO, logger="eventflux.cqrs"):
        await bus.dispatch(Rename("a1", "x"), metadata={"user": "ann", "correlation_id": "c-1"})
        with pytest.raises(RuntimeError):
            await bus.dispatch(Withdraw("a1", 5))
    ok, failed = caplog.records
    assert ok.levelno == logging.INFO
    assert ok.getMessage().startswith("Rename ok in ")
    assert (ok.user, ok.correlation_id, ok.outcome) == ("ann", "c-1", "ok")  # type: ignore[attr-defined]
    assert failed.levelno == logging.WARNING
    assert "Withdraw failed: RuntimeError: db down" in failed.getMessage()
    caplog.clear()
    quiet = CommandBus(middleware=[logging_middleware(logging.getLogger("quiet"))])
    quiet.register(Rename, lambda c: None)
    with caplog.at_level(logging.WARNING, logger="quiet"):
        await quiet.dispatch(Rename("a1", "x"))
    assert caplog.records == []


@pytest.mark.asyncio
async def test_validation_checks_types_constraints_and_rules() -> None:
    def no_round_amounts(command: Any) -> str | None:
        if isinstance(command, Withdraw) and command.amount % 100 == 0:
            return "round amounts need a second signature"
        return None

    def strict_names(command: Any) -> None:
        if isinstance(command, Rename) and command.name.islower():
            raise ValueError("names are capitalised")

    handled: list[Any] = []
    bus = CommandBus(middleware=[validation_middleware(no_round_amounts, strict_names)])
    bus.register(Withdraw, handled.append)
    bus.register(Rename, handled.append)
    bus.register(Free, handled.append)

    await bus.dispatch(Withdraw("a1", 5))
    with pytest.raises(ValidationError, match=r"Expected `int` >= 1 - at `\$.amount`") as info:
        await bus.dispatch(Withdraw("a1", -5))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValidationError, match="Expected `str`, got `int`"):
        await bus.dispatch(Withdraw(7, 5))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        await bus.dispatch(Withdraw("b1", 300))
    assert info.value.errors == [
        "account ids start with 'a'",
        "round amounts need a second signature",
    ]
    with pytest.raises(ValidationError, match="length >= 1"):
        await bus.dispatch(Rename("a1", ""))
    with pytest.raises(ValidationError, match="capitalised"):
        await bus.dispatch(Rename("a1", "lower"))
    await bus.dispatch(Free(object()))  # a field type msgspec cannot check passes
    queries = QueryBus(middleware=[validation_middleware()])
    queries.register(str, lambda q: q.upper())
    assert await queries.dispatch("plain objects pass") == "PLAIN OBJECTS PASS"
    assert len(handled) == 2


@pytest.mark.asyncio
async def test_authorization_asks_the_policy_with_the_metadata() -> None:
    def tellers_only(command: Any, meta: Mapping[str, Any]) -> bool:
        return "teller" in meta.get("roles", ())

    async def not_on_account_z(command: Any, meta: Mapping[str, Any]) -> bool:
        return getattr(command, "account", "") != "z"

    bus = CommandBus(
        middleware=[
            authorization_middleware(tellers_only),
            authorization_middleware(not_on_account_z),
        ]
    )
    bus.register(Withdraw, lambda c: "done")
    assert await bus.dispatch(Withdraw("a", 1), metadata={"user": "ann", "roles": ["teller"]})
    with pytest.raises(NotAuthorizedError, match="bob may not run Withdraw") as info:
        await bus.dispatch(Withdraw("a", 1), metadata={"user": "bob", "roles": []})
    assert isinstance(info.value, PermissionError)
    with pytest.raises(NotAuthorizedError, match="an anonymous caller"):
        await bus.dispatch(Withdraw("a", 1))
    with pytest.raises(NotAuthorizedError):
        await bus.dispatch(Withdraw("z", 1), metadata={"user": "ann", "roles": ["teller"]})


@pytest.mark.asyncio
async def test_refusals_are_logged_as_outcomes_not_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from eventflux.es import DomainError

    bus = CommandBus(middleware=[logging_middleware(), validation_middleware()])

    def refuse(c: Rename) -> None:
        raise DomainError("names are frozen")

    bus.register(Rename, refuse)
    with caplog.at_level(logging.INFO, logger="eventflux.cqrs"):
        with pytest.raises(DomainError):
            await bus.dispatch(Rename("a1", "x"))
        with pytest.raises(ValidationError):
            await bus.dispatch(Rename("a1", ""))
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert "Rename refused: DomainError: names are frozen" in caplog.records[0].getMessage()
    assert "refused: ValidationError" in caplog.records[1].getMessage()
