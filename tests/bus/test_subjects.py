"""Subject rules and pattern matching, checked against a reference matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventflux import InvalidGroupName, InvalidSubject
from eventflux.bus import matches, validate_group, validate_subject

TOKENS = st.sampled_from(["a", "b", "orders", "créé", "x-1", "_"])


def reference(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


@given(
    st.lists(st.one_of(TOKENS, st.just("*")), min_size=1, max_size=4),
    st.booleans(),
    st.lists(TOKENS, min_size=1, max_size=5),
)
def test_patterns_match_like_the_reference(
    tokens: list[str], tail: bool, subject_tokens: list[str]
) -> None:
    pattern = ".".join([*tokens, ">"] if tail else tokens)
    subject = ".".join(subject_tokens)
    assert matches(pattern, subject) == reference(pattern, subject)


def test_literal_patterns_and_regex_characters() -> None:
    assert matches("a.b", "a.b")
    assert not matches("a.b", "a.bc")
    assert matches("price.$.eur", "price.$.eur")
    assert not matches("a+", "aa")
    assert validate_subject("a.*", pattern=True) == "a.*"


@pytest.mark.parametrize("subject", ["a.b", "Ünïcode", "a-b_c:d", "x" * 300])
def test_valid_subjects(subject: str) -> None:
    assert validate_subject(subject) == subject


def test_group_names() -> None:
    assert validate_group("pay-ments_2") == "pay-ments_2"
    for bad in ("", " ", "a\n", "é", "a.b"):
        with pytest.raises(InvalidGroupName):
            validate_group(bad)
    with pytest.raises(InvalidSubject):
        validate_subject("a.>.b", pattern=True)
