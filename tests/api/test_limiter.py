from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import AsyncLimiter, Limiter, RateLimit, SlidingWindow


def test_window_allows_burst_then_waits_for_the_oldest_to_age_out() -> None:
    w = SlidingWindow(limit=16, window=1.0)
    waits = [w.reserve(0.0) for _ in range(18)]
    assert waits[:16] == [0.0] * 16
    assert waits[16:] == [1.0, 1.0]
    assert w.reserve(0.5) == pytest.approx(0.5)  # 19th: after the 3rd booking ages out


def test_window_frees_up_after_quiet_time() -> None:
    w = SlidingWindow(limit=2, window=1.0)
    w.reserve(0.0)
    w.reserve(0.0)
    assert w.reserve(0.0) == 1.0
    assert w.reserve(5.0) == 0.0


def test_rate_limit_window_shape() -> None:
    w = RateLimit().window()
    assert (w.limit, w.window) == (16, pytest.approx(1.05))
    w = RateLimit(requests_per_second=0.5, margin=0).window()
    assert (w.limit, w.window) == (1, 2.0)


@given(st.lists(st.floats(0, 0.3), min_size=1, max_size=80), st.integers(1, 20))
def test_never_more_than_limit_in_any_window(gaps: list[float], limit: int) -> None:
    """Whatever the arrival pattern, no window of 1 s holds more than ``limit`` sends."""
    w = SlidingWindow(limit, 1.0)
    now = 0.0
    sent = []
    for gap in gaps:
        now += gap
        sent.append(now + w.reserve(now))
    assert sent == sorted(sent)
    for i in range(len(sent) - limit):
        assert sent[i + limit] - sent[i] >= 1.0 - 1e-9


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
        RateLimit(requests_per_second=2, max_in_flight=5, margin=0),
        clock=lambda: 0.0,
        sleep=slept.append,
    )
    for _ in range(5):
        with limiter.slot():
            pass
    assert slept == [1.0, 1.0, 2.0]


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


def test_clients_of_one_token_share_a_limiter() -> None:
    from cloverpay.api import AsyncCloverClient, CloverClient

    a = CloverClient("token-aaaaaaaaaaaaaaaa")
    b = CloverClient("token-aaaaaaaaaaaaaaaa")
    c = CloverClient("token-bbbbbbbbbbbbbbbb")
    d = CloverClient("token-aaaaaaaaaaaaaaaa", rate_limit=RateLimit(requests_per_second=4))
    assert a._runner.limiter is b._runner.limiter
    assert a._runner.limiter is not c._runner.limiter
    assert d._runner.limiter is not a._runner.limiter
    x = AsyncCloverClient("token-aaaaaaaaaaaaaaaa")
    y = AsyncCloverClient("token-aaaaaaaaaaaaaaaa")
    assert x._runner.limiter is y._runner.limiter
    assert isinstance(x._runner.limiter, AsyncLimiter)
