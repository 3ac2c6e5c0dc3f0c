from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import RetryPolicy


def policy(**kw: object) -> RetryPolicy:
    return RetryPolicy(rng=lambda: 1.0, **kw)  # type: ignore[arg-type]


def test_connect_error_before_send_is_always_retried() -> None:
    d = policy().decide(attempt=1, replay_safe=False, sent=False)
    assert d.retry
    assert d.delay == 0.5


def test_sent_and_not_replay_safe_is_never_retried() -> None:
    d = policy().decide(attempt=1, replay_safe=False, sent=True)
    assert not d.retry


def test_sent_with_idempotency_key_is_retried() -> None:
    assert policy().decide(attempt=1, replay_safe=True, sent=True).retry


def test_429_retried_even_without_key_and_honours_retry_after() -> None:
    d = policy().decide(attempt=1, replay_safe=False, sent=True, status=429, retry_after=2.0)
    assert d.retry
    assert d.delay == 2.0


def test_retry_after_beyond_cap_stops() -> None:
    d = policy(max_retry_after=5.0).decide(
        attempt=1, replay_safe=True, sent=True, status=429, retry_after=30.0
    )
    assert not d.retry


def test_5xx_and_409_only_when_replay_safe() -> None:
    for status in (409, 500, 502, 503, 504):
        assert policy().decide(attempt=1, replay_safe=True, sent=True, status=status).retry
        assert not policy().decide(attempt=1, replay_safe=False, sent=True, status=status).retry


def test_final_statuses() -> None:
    for status in (400, 401, 402, 403, 404, 422, 501):
        assert not policy().decide(attempt=1, replay_safe=True, sent=True, status=status).retry


def test_exhaustion() -> None:
    p = policy(max_retries=2)
    assert p.decide(attempt=2, replay_safe=True, sent=False).retry
    assert not p.decide(attempt=3, replay_safe=True, sent=False).retry
    assert not RetryPolicy(max_retries=0).decide(attempt=1, replay_safe=True, sent=False).retry


def test_exponential_cap() -> None:
    p = policy(initial_backoff=0.5, max_backoff=3.0, max_retries=10)
    assert [p.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@given(st.integers(1, 50), st.floats(0, 0.999999))
def test_full_jitter_within_bounds(attempt: int, r: float) -> None:
    p = RetryPolicy(rng=lambda: r, initial_backoff=0.5, max_backoff=8.0)
    delay = p.backoff(attempt)
    assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (attempt - 1))
