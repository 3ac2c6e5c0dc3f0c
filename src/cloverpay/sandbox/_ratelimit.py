"""Clover's per-token limits (spec §13.5), off by default.

When enabled: at most ``token_limit`` requests per second (sliding one-second window)
and ``token_concurrent_limit`` requests in flight per token (the bearer token, or the
PAKMS key on the tokenizer). Excess requests get 429 with ``Retry-After`` and
``X-RateLimit-tokenLimit`` or ``X-RateLimit-tokenConcurrentLimit``, in Clover's error
shape (``rate_limit_error`` / ``rate_limit`` on Ecommerce routes).
Requests without credentials and the ``/_sandbox/`` control API are not limited.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ._asgi import ASGIApp, Receive, Scope, Send, header, send_error
from ._errors import rate_limited

__all__ = ["RateLimitMiddleware", "RateLimiter"]


class RateLimiter:
    """Counters per token; :attr:`enabled` is the on/off switch."""

    def __init__(self, token_limit: int = 16, token_concurrent_limit: int = 5) -> None:
        self.enabled = False
        self.token_limit = token_limit
        self.token_concurrent_limit = token_concurrent_limit
        self._recent: dict[str, deque[float]] = {}
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, token: str) -> tuple[str, int] | None:
        """``None`` if allowed (caller must :meth:`release`), else (header, retry_after)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(token, deque())
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= self.token_limit:
                wait = max(1, int(1.0 - (now - recent[0]) + 0.999))
                return "X-RateLimit-tokenLimit", wait
            if self._inflight.get(token, 0) >= self.token_concurrent_limit:
                return "X-RateLimit-tokenConcurrentLimit", 1
            recent.append(now)
            self._inflight[token] = self._inflight.get(token, 0) + 1
        return None

    def release(self, token: str) -> None:
        with self._lock:
            n = self._inflight.get(token, 0) - 1
            if n <= 0:
                self._inflight.pop(token, None)
            else:
                self._inflight[token] = n

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._inflight.clear()


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        if not limiter.enabled or scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        token = header(scope, b"authorization") or header(scope, b"apikey")
        if not token:
            await self.app(scope, receive, send)
            return
        refused = limiter.acquire(token)
        if refused is not None:
            name, retry_after = refused
            limit = (
                limiter.token_limit
                if name.endswith("tokenLimit")
                else limiter.token_concurrent_limit
            )
            await send_error(send, scope, rate_limited(retry_after, {name: str(limit)}))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            limiter.release(token)
