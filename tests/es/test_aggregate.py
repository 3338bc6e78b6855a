"""Aggregates: apply dispatch by type, pending events, versions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from tests.es._es_domain import Account, Deposited, Opened, Withdrawn

from eventflux import EventfluxError
from eventflux.es import Aggregate, DomainError, MissingApplyMethodError, apply


def test_record_applies_at_once_and_keeps_events_pending() -> None:
    account = Account.open("1", "Ada")
    account.deposit(10)
    account.withdraw(4)
    assert (account.owner, account.balance, account.version) == ("Ada", 6, 3)
    assert account.pending_events == (Opened("Ada"), Deposited(10), Withdrawn(4))
    assert account.saved_version == 0
    assert repr(account) == "<Account id='1' version=3>"


def test_collect_events_hands_them_over() -> None:
    account = Account.open("1", "Ada")
    account.deposit(5)
    assert account.collect_events() == [Opened("Ada"), Deposited(5)]
    assert account.pending_events == ()
    assert account.saved_version == 2


def test_replay_event_and_mark_saved_are_what_a_repository_uses() -> None:
    account = Account("1")
    account.replay_event(Opened("Ada"), 1)
    account.replay_event(Deposited(10), 2)
    assert (account.balance, account.version, account.saved_version) == (10, 2, 2)
    assert account.pending_events == ()
    account.deposit(5)
    assert (account.version, account.saved_version) == (3, 2)
    account.mark_saved()
    assert (account.version, account.saved_version, account.pending_events) == (3, 3, ())
    restored = Account("1")
    restored.balance = 15  # as restore() would set it from a snapshot taken at version 3
    restored.mark_saved(3)
    assert (restored.version, restored.saved_version) == (3, 3)


def test_a_refused_command_records_nothing() -> None:
    account = Account.open("1", "Ada")
    with pytest.raises(DomainError, match="balance is 0"):
        account.withdraw(1)
    assert account.version == 1
    assert len(account.pending_events) == 1
    assert issubclass(DomainError, EventfluxError)


def test_explicit_union_inherited_and_local_event_classes() -> None:
    @dataclass
    class Liked:
        by: str

    @dataclass
    class Starred:
        by: str

    @dataclass
    class Pinned:
        pass

    @dataclass
    class SuperLiked(Liked):
        pass

    class Post(Aggregate):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.fans: list[str] = []
            self.pinned = False

        @apply
        def _fan(self, event: Liked | Starred) -> None:
            self.fans.append(event.by)

        @apply(Pinned)
        def _pinned(self, event: object) -> None:
            self.pinned = True

    class StickyPost(Post):
        @apply
        def _fan(self, event: Liked | Starred) -> None:
            self.fans.append(event.by.upper())

    post = Post("p")
    post.record(Liked("ann"))
    post.record(Starred("bob"))
    post.record(SuperLiked("cy"))  # dispatched along the event class's bases
    post.record(Pinned())
    assert (post.fans, post.pinned) == (["ann", "bob", "cy"], True)
    assert set(Post.handled_event_classes()) == {Liked, Starred, Pinned}

    sticky = StickyPost("s")
    sticky.record(Liked("ann"))
    sticky.record(Pinned())  # inherited
    assert (sticky.fans, sticky.pinned) == (["ANN"], True)


def test_missing_apply_method_is_a_typed_error() -> None:
    @dataclass
    class Unknown:
        pass

    account = Account("1")
    with pytest.raises(MissingApplyMethodError, match=r"no @apply method for .*Unknown"):
        account.record(Unknown())
    with pytest.raises(TypeError):
        account.record({"amount": 1})
    assert account.version == 0


def test_bad_apply_declarations_fail_at_class_creation() -> None:
    with pytest.raises(TypeError, match="needs the event class"):

        class NoHint(Aggregate):
            @apply
            def _x(self, event):  # type: ignore[no-untyped-def]
                pass

    with pytest.raises(TypeError, match="two apply methods"):

        class Twice(Aggregate):
            @apply
            def _a(self, event: Opened) -> None:
                pass

            @apply(Opened)
            def _b(self, event: object) -> None:
                pass

    with pytest.raises(TypeError, match="exactly"):

        class Arity(Aggregate):
            @apply
            def _a(self, event: Opened, extra: int) -> None:
                pass

    with pytest.raises(TypeError, match="not an event class"):

        class NotAClass(Aggregate):
            @apply
            def _a(self, event: list[int]) -> None:
                pass

    with pytest.raises(TypeError, match="cannot resolve"):

        class Unresolvable(Aggregate):
            @apply
            def _a(self, event: NoSuchEvent) -> None:  # type: ignore[name-defined]  # noqa: F821
                pass

    with pytest.raises(TypeError, match="decorates methods"):
        apply(42)  # type: ignore[call-overload]


def test_ids_must_be_non_empty_strings() -> None:
    with pytest.raises(ValueError, match="non-empty str"):
        Account("")
    with pytest.raises(ValueError, match="non-empty str"):
        Account(7)  # type: ignore[arg-type]


def test_default_snapshot_round_trip() -> None:
    account = Account.open("1", "Ada")
    account.deposit(7)
    state = account.snapshot()
    other = Account("1")
    other.restore(state)
    assert (other.owner, other.balance) == ("Ada", 7)

    class Plain(Aggregate):
        pass

    with pytest.raises(TypeError, match="no snapshot_type"):
        Plain("x").snapshot()
