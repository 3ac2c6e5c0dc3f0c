"""Client-side rate limiting per token: Clover allows 16 requests/s and 5 in flight.

(spec §13.5). The token-bucket arithmetic is pure (:class:`TokenBucket`, time passed
in); :class:`Limiter` wraps it with a lock and a semaphore for threads,
:class:`AsyncLimiter` with an asyncio semaphore. When there is a token and a free slot,
acquiring costs one clock read, a little arithmetic and an uncontended lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

__all__ = ["AsyncLimiter", "Limiter", "RateLimit", "TokenBucket"]


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """Limits for one access token. Pass ``rate_limit=None`` to the client to disable."""

    requests_per_second: float = 16.0
    max_in_flight: int = 5
    burst: int | None = None  # default: requests_per_second rounded up

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be > 0")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be >= 1")


class TokenBucket:
    """Pure token bucket: ``reserve(now)`` takes one token and says how long to wait.

    Reservations may run the bucket negative, so callers that must wait queue up
    in order without busy retries.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def reserve(self, now: float) -> float:
        """Consume one token; return seconds to wait before using it (0 if none)."""
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate


def _bucket(limit: RateLimit, now: float) -> TokenBucket:
    burst = (
        limit.burst if limit.burst is not None else max(1, int(-(-limit.requests_per_second // 1)))
    )
    return TokenBucket(limit.requests_per_second, float(burst), now)


class Limiter:
    """Thread-safe limiter for the sync client; share one between clients of one token."""

    def __init__(
        self,
        limit: RateLimit | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit or RateLimit()
        self._clock = clock
        self._sleep = sleep
        self._bucket = _bucket(self.limit, clock())
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.limit.max_in_flight)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot and one rate token for the duration of a request."""
        self._slots.acquire()
        try:
            with self._lock:
                wait = self._bucket.reserve(self._clock())
            if wait > 0:
                self._sleep(wait)
            yield
        finally:
            self._slots.release()


class AsyncLimiter:
    """asyncio limiter for the async client (one event loop at a time)."""

    def __init__(
        self, limit: RateLimit | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit or RateLimit()
        self._clock = clock
        self._bucket = _bucket(self.limit, clock())
        self._slots = asyncio.Semaphore(self.limit.max_in_flight)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one in-flight slot and one rate token for the duration of a request."""
        async with self._slots:
            wait = self._bucket.reserve(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            yield
