"""RetryPolicy: delays, validation, retrying calls."""

from __future__ import annotations

import pytest

from eventflux.resilience import RetryPolicy


def test_delays_double_up_to_the_maximum_with_jitter_in_half_to_full() -> None:
    p = RetryPolicy(5, (0.1, 1.0))
    assert [p.base_delay(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert p.delay(3, rand=lambda: 0.0) == pytest.approx(0.2)
    assert p.delay(3, rand=lambda: 1.0) == pytest.approx(0.4)
    for n in range(1, 10):
        assert 0.5 * p.base_delay(n) <= p.delay(n) <= p.base_delay(n)
    assert p.base_delay(1000) == 1.0
    assert p.base_delay(0) == 0.0


def test_max_deliver_counts_the_first_delivery() -> None:
    p = RetryPolicy(max_deliver=3)
    assert [p.should_retry(n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_deliver=1).should_retry(1)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((0,), ValueError),
        ((True,), TypeError),
        ((1.5,), TypeError),
        ((3, (1.0,)), TypeError),
        ((3, 0.5), TypeError),
        ((3, (2.0, 1.0)), ValueError),
        ((3, (-1.0, 1.0)), ValueError),
        ((3, (0.1, float("inf"))), ValueError),
        ((3, (0.1, "1")), TypeError),
    ],
)
def test_bad_settings_raise(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(*args)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_call_retries_until_success_or_the_budget_is_spent() -> None:
    calls = 0

    async def flaky(x: int) -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("again")
        return x * 2

    assert await RetryPolicy(5, (0.001, 0.002)).call(flaky, 21) == 42
    assert calls == 3

    calls = -10
    with pytest.raises(ConnectionError):
        await RetryPolicy(2, (0.001, 0.001)).call(flaky, 1)
    assert calls == -8


@pytest.mark.asyncio
async def test_retrying_only_listed_errors() -> None:
    calls = 0

    @RetryPolicy(5, (0.001, 0.001)).retrying(ConnectionError)
    async def boom() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("not retried")

    with pytest.raises(KeyError):
        await boom()
    assert calls == 1
    assert boom.__name__ == "boom"
