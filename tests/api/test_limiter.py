from __future__ import annotations

import asyncio
import contextlib
import heapq
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import AsyncLimiter, Limiter, RateLimit, SlidingWindow


def test_window_allows_burst_then_waits_for_answers_to_age_out() -> None:
    w = SlidingWindow(limit=4, window=1.0)
    assert [w.reserve(0.0) for _ in range(4)] == [0.0] * 4
    for t in (0.1, 0.2, 0.3, 0.4):  # answers come back
        w.release(t)
    # each next send waits until one answer is a whole window old
    assert w.reserve(0.5) == pytest.approx(0.6)
    assert w.reserve(0.5) == pytest.approx(0.7)
    w.release(1.2)
    assert w.reserve(1.25) == pytest.approx(0.05)  # answer at 0.3 ages out at 1.3


def test_window_counts_requests_still_in_flight() -> None:
    w = SlidingWindow(limit=2, window=1.0)
    w.reserve(0.0)  # never answered yet: counts whatever the time
    w.reserve(0.0)
    w.release(0.5)
    assert w.reserve(10.0) == 0.0  # one old answer has aged out; one still in flight
    assert w.reserve(10.0) is None  # two in flight: nothing booked until an answer
    w.release(10.5)
    assert w.reserve(10.5) == pytest.approx(1.0)


def test_window_frees_up_after_quiet_time() -> None:
    w = SlidingWindow(limit=2, window=1.0)
    w.reserve(0.0)
    w.reserve(0.0)
    w.release(0.0)
    w.release(0.0)
    assert w.reserve(0.0) == 1.0
    w.release(1.0)
    assert w.reserve(5.0) == 0.0


def test_rate_limit_window_shape() -> None:
    w = RateLimit().window()
    assert (w.limit, w.window) == (16, pytest.approx(1.0))
    w = RateLimit(requests_per_second=0.5, margin=0.25).window()
    assert (w.limit, w.window) == (1, 2.25)


@given(
    st.lists(
        st.tuples(st.floats(0, 0.3), st.floats(0, 0.5)),  # (gap before, duration)
        min_size=1,
        max_size=80,
    ),
    st.integers(1, 20),
    st.integers(1, 6),
)
def test_server_never_sees_more_than_limit_in_any_window(
    requests: list[tuple[float, float]], limit: int, slots: int
) -> None:
    """Whatever the gaps and durations, at any time t at most ``limit`` requests can
    have reached the server in (t - 1, t]: a request reaches it between its send and
    its answer, so it counts from its send until one window after its answer."""
    slots = min(slots, limit)
    w = SlidingWindow(limit, 1.0)
    answers: list[float] = []  # heap of answer times of requests in flight
    spans: list[tuple[float, float]] = []
    now = 0.0
    for gap, duration in requests:
        now += gap
        while answers and (answers[0] <= now or len(answers) == slots):
            t = heapq.heappop(answers)
            now = max(now, t)
            w.release(t)
        wait = w.reserve(now)
        assert wait is not None  # at most ``slots`` <= ``limit`` in flight
        send = now + wait
        spans.append((send, send + duration))
        heapq.heappush(answers, send + duration)
    for t, _ in spans:
        live = sum(1 for send, answer in spans if send <= t < answer + 1.0)
        assert live <= limit


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


def test_sync_limiter_sleeps_when_the_window_is_full() -> None:
    slept: list[float] = []
    limiter = Limiter(
        RateLimit(requests_per_second=2, max_in_flight=5),
        clock=lambda: 0.0,
        sleep=slept.append,
    )
    for _ in range(5):
        with limiter.slot():
            pass
    # the clock stands still: answers at 0.0, so each send after the first two waits
    # for an answer to be one window (1 s) old
    assert slept == [1.0, 1.0, 1.0]


def test_sync_limiter_in_flight_is_capped_by_the_window() -> None:
    limiter = Limiter(RateLimit(requests_per_second=2, max_in_flight=5))
    assert limiter._slots._value == 2  # type: ignore[attr-defined]


def test_sync_limiter_releases_when_the_request_fails() -> None:
    limiter = Limiter(RateLimit(requests_per_second=1, max_in_flight=1), sleep=lambda s: None)
    with pytest.raises(ZeroDivisionError), limiter.slot():
        _ = 1 / 0
    with limiter.slot():  # would wait forever if the place in the window leaked
        pass


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


def test_async_limiter_survives_several_event_loops() -> None:
    """One limiter (e.g. shared per token) used under contention from successive loops."""
    limiter = AsyncLimiter(RateLimit(requests_per_second=10_000, max_in_flight=1))

    async def burst() -> int:
        done = 0

        async def one() -> None:
            nonlocal done
            async with limiter.slot():
                await asyncio.sleep(0)
                done += 1

        await asyncio.gather(*(one() for _ in range(5)))
        return done

    assert asyncio.run(burst()) == 5
    assert asyncio.run(burst()) == 5


def test_async_limiter_shared_by_several_event_loops_waits_instead_of_failing() -> None:
    """Each loop has its own in-flight cap, so together they can hold every place in
    the window; the next request then waits for an answer."""
    limiter = AsyncLimiter(RateLimit(requests_per_second=4, max_in_flight=3))
    errors: list[BaseException] = []
    done = []

    def run() -> None:
        async def one() -> None:
            async with limiter.slot():
                await asyncio.sleep(0.02)
            done.append(1)

        async def main() -> None:
            await asyncio.gather(*(one() for _ in range(3)))

        try:
            asyncio.run(main())
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(done) == 9
