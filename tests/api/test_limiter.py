from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import AsyncLimiter, Limiter, RateLimit, TokenBucket


def test_bucket_allows_burst_then_spaces_requests() -> None:
    bucket = TokenBucket(rate=16.0, burst=16.0, now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(18)]
    assert waits[:16] == [0.0] * 16
    assert waits[16] == pytest.approx(1 / 16)
    assert waits[17] == pytest.approx(2 / 16)


def test_bucket_refills() -> None:
    bucket = TokenBucket(rate=10.0, burst=2.0, now=0.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    assert bucket.reserve(0.0) > 0
    assert bucket.reserve(10.0) == 0.0  # refilled, capped at burst


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=60))
def test_bucket_never_exceeds_rate(gaps: list[float]) -> None:
    """Admitted times never put more than burst + rate*t requests in any window from 0."""
    rate, burst = 16.0, 16.0
    bucket = TokenBucket(rate, burst, now=0.0)
    now = 0.0
    admitted = []
    for gap in gaps:
        now += gap
        admitted.append(now + bucket.reserve(now))
    for t in admitted:
        assert sum(1 for a in admitted if a <= t) <= burst + rate * t + 1e-6


def test_rate_limit_validation() -> None:
    with pytest.raises(ValueError, match="requests_per_second"):
        RateLimit(requests_per_second=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        RateLimit(max_in_flight=0)


def test_sync_limiter_caps_in_flight() -> None:
    limiter = Limiter(RateLimit(requests_per_second=1000, max_in_flight=2), sleep=lambda s: None)
    inside = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Barrier(2, timeout=5)

    def work() -> None:
        nonlocal inside, peak
        with limiter.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait()
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 2


def test_sync_limiter_sleeps_when_out_of_tokens() -> None:
    slept: list[float] = []
    limiter = Limiter(
        RateLimit(requests_per_second=2, max_in_flight=5), clock=lambda: 0.0, sleep=slept.append
    )
    for _ in range(4):
        with limiter.slot():
            pass
    assert slept == [pytest.approx(0.5), pytest.approx(1.0)]


@pytest.mark.anyio
async def test_async_limiter_caps_in_flight() -> None:
    limiter = AsyncLimiter(RateLimit(requests_per_second=1000, max_in_flight=3))
    inside = peak = 0

    async def work() -> None:
        nonlocal inside, peak
        async with limiter.slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 3
