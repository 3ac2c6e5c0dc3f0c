"""Client-side rate limiting per token: Clover allows 16 requests/s and 5 in flight.

(spec §13.5). The rate arithmetic is pure (:class:`SlidingWindow`, time passed in);
:class:`Limiter` wraps it with a lock and a semaphore for threads,
:class:`AsyncLimiter` with an asyncio semaphore. When under the limits, acquiring
costs one clock read and an uncontended lock, and so does releasing.

Why a sliding window and not a token bucket: a bucket of 16 refilled at 16/s lets
up to 32 requests through in one second, which a server counting a sliding
one-second window (as Clover's documentation describes, and the sandbox does) would
refuse.

Why the window counts from when each request *finished*: the server stamps a
request when it arrives, some time between our send and our reading of the answer.
Counting sends alone, a request delayed on its way (a busy event loop, a slow
connect, network jitter) lands later than we think, and the next send one window
after it can reach the server less than a window later: a 429. Counting every
request from its send until its answer plus one window bounds the server's stamps
whatever the delays, so no window at the server can hold more than N of ours; the
cost is the latency of one request per window (16 per 1.002 s against a local
sandbox; at high latency the 5-in-flight cap binds first anyway).
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
from weakref import WeakKeyDictionary, WeakValueDictionary

__all__ = ["AsyncLimiter", "Limiter", "RateLimit", "SlidingWindow"]

LimiterKey = tuple[str, "RateLimit"]


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """Limits for one access token. Pass ``rate_limit=None`` to the client to disable.

    ``margin`` widens the window (seconds). Delays between our send and the server's
    count need no margin (see the module docstring); it is there for servers that
    count more strictly than a sliding window.
    """

    requests_per_second: float = 16.0
    max_in_flight: int = 5
    margin: float = 0.0

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
    """At most ``limit`` requests in any ``window`` seconds at the server; pure.

    A request counts from :meth:`reserve` (it may be sent, or be about to be) until
    one ``window`` after :meth:`release` (its answer came back: the server counted it
    at the latest then). ``reserve(now)`` books one send and returns how long to wait
    before sending so that, at that moment, no more than ``limit`` requests count,
    itself included, or ``None`` without booking when ``limit`` requests are already
    reserved and unanswered (try again after a :meth:`release`). A :class:`Limiter`
    caps its in-flight slots at ``limit`` and never sees ``None``; an
    :class:`AsyncLimiter` used from several event loops at once can.
    """

    __slots__ = ("_done", "_pending", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._done: deque[float] = deque()  # release times, ascending
        self._pending = 0

    def reserve(self, now: float) -> float | None:
        """Book one send; return seconds to wait before sending (0 if none), or
        ``None`` (nothing booked) while ``limit`` requests are in flight."""
        done = self._done
        horizon = now - self.window
        while done and done[0] <= horizon:
            done.popleft()
        room = self.limit - 1 - self._pending
        if room < 0:
            return None
        self._pending += 1
        excess = len(done) - room
        if excess <= 0:
            return 0.0
        # send once the ``excess`` oldest answers are a whole window old
        return max(0.0, done[excess - 1] + self.window - now)

    def release(self, now: float) -> None:
        """The answer to one reserved request arrived (or it failed) at ``now``."""
        self._pending -= 1
        done = self._done
        done.append(now if not done or now >= done[-1] else done[-1])


#: How often a limiter whose window is full of requests in flight looks again.
_FULL_POLL_S = 0.005


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
        self._slots = threading.BoundedSemaphore(min(self.limit.max_in_flight, self._window.limit))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot and one place in the window for a request."""
        self._slots.acquire()
        try:
            while True:
                with self._lock:
                    wait = self._window.reserve(self._clock())
                if wait is not None:
                    break
                self._sleep(_FULL_POLL_S)  # unreachable with our own slot cap
            try:
                if wait > 0:
                    self._sleep(wait)
                yield
            finally:
                with self._lock:
                    self._window.release(self._clock())
        finally:
            self._slots.release()


class AsyncLimiter:
    """asyncio limiter for the async client.

    The rate window is shared by every event loop (and thread) that uses the limiter;
    the in-flight cap is kept per event loop, because an asyncio semaphore belongs to
    one loop (so a limiter outlives ``asyncio.run()`` calls and test loops safely).
    """

    def __init__(
        self, limit: RateLimit | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit or RateLimit()
        self._clock = clock
        self._window = self.limit.window()
        self._lock = threading.Lock()
        self._slots: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._slots.get(loop)
        if sem is None:
            in_flight = min(self.limit.max_in_flight, self._window.limit)
            with self._lock:
                sem = self._slots.setdefault(loop, asyncio.Semaphore(in_flight))
        return sem

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one in-flight slot and one place in the window for a request."""
        async with self._semaphore():
            while True:
                with self._lock:
                    wait = self._window.reserve(self._clock())
                if wait is not None:
                    break
                # other event loops hold every place in the window: wait for an answer
                await asyncio.sleep(_FULL_POLL_S)
            try:
                if wait > 0:
                    await asyncio.sleep(wait)
                yield
            finally:
                with self._lock:
                    self._window.release(self._clock())


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
