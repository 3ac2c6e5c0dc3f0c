"""Client-side rate limiting per token: Clover allows 16 requests/s and 5 in flight.

(spec §13.5). The rate arithmetic is pure (:class:`SlidingWindow`, time passed in);
:class:`Limiter` wraps it with a lock and a semaphore for threads,
:class:`AsyncLimiter` with an asyncio semaphore. When under the limits, acquiring
costs one clock read, a deque append and an uncontended lock.

Why a sliding window and not a token bucket: a bucket of 16 refilled at 16/s lets
up to 32 requests through in one second, which a server counting a sliding
one-second window (as Clover's documentation describes, and the sandbox does) would
refuse. A sliding log of the last N admission times never admits more than N in
any window, whatever the server's counting, and still allows bursts of N.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from weakref import WeakValueDictionary

__all__ = ["AsyncLimiter", "Limiter", "RateLimit", "SlidingWindow"]

LimiterKey = tuple[str, "RateLimit"]


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """Limits for one access token. Pass ``rate_limit=None`` to the client to disable.

    ``margin`` widens the window a little so that network jitter cannot make two
    requests sent one window apart arrive closer together at Clover.
    """

    requests_per_second: float = 16.0
    max_in_flight: int = 5
    margin: float = 0.05

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be > 0")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if self.margin < 0:
            raise ValueError("margin must be >= 0")

    def window(self) -> SlidingWindow:
        """Fresh window state for these limits."""
        count = max(1, math.floor(self.requests_per_second))
        return SlidingWindow(count, count / self.requests_per_second + self.margin)


class SlidingWindow:
    """At most ``limit`` admissions in any ``window`` seconds; pure (time passed in).

    ``reserve(now)`` books the earliest allowed slot and returns how long to wait for
    it. Booked slots may lie in the future, so waiting callers queue up in order.
    """

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)

    def reserve(self, now: float) -> float:
        """Book one admission; return seconds to wait before sending (0 if none)."""
        times = self._times
        start = now
        if len(times) == self.limit:
            start = max(now, times[0] + self.window)
        times.append(start)  # maxlen drops the oldest
        return start - now


class Limiter:
    """Thread-safe limiter for the sync client.

    Clients built with the same access token share one limiter automatically; pass a
    ``Limiter`` as ``rate_limit=`` to share it explicitly (e.g. OAuth clients).
    """

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
        self._window = self.limit.window()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.limit.max_in_flight)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot and one rate token for the duration of a request."""
        self._slots.acquire()
        try:
            with self._lock:
                wait = self._window.reserve(self._clock())
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
        self._window = self.limit.window()
        self._slots = asyncio.Semaphore(self.limit.max_in_flight)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one in-flight slot and one rate token for the duration of a request."""
        async with self._slots:
            wait = self._window.reserve(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            yield


_shared_lock = threading.Lock()
_shared_sync: WeakValueDictionary[LimiterKey, Limiter] = WeakValueDictionary()
_shared_async: WeakValueDictionary[LimiterKey, AsyncLimiter] = WeakValueDictionary()


def limiter_key(secret: str, limit: RateLimit) -> LimiterKey:
    """Key of the shared limiter for one token (the token itself is not kept)."""
    return hashlib.sha256(secret.encode()).hexdigest(), limit


def shared_limiter(key: LimiterKey) -> Limiter:
    """The process-wide sync limiter for ``key``: clients of one token share limits."""
    with _shared_lock:
        limiter = _shared_sync.get(key)
        if limiter is None:
            limiter = _shared_sync[key] = Limiter(key[1])
        return limiter


def shared_async_limiter(key: LimiterKey) -> AsyncLimiter:
    """The process-wide async limiter for ``key`` (use it from one event loop)."""
    with _shared_lock:
        limiter = _shared_async.get(key)
        if limiter is None:
            limiter = _shared_async[key] = AsyncLimiter(key[1])
        return limiter
