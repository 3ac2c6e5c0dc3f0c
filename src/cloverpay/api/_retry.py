"""When to retry a request, and how long to wait: one pure policy for sync and async.

Rules (RELIABILITY.md, "money must move exactly once"):

* A connection that failed before the request was sent (connect error or timeout,
  pool timeout) is always safe to retry.
* A failure after the request was sent (read timeout, reset, dropped connection)
  is retried only when the request is *replay-safe*: an idempotent method (GET, PUT,
  DELETE, HEAD, OPTIONS) or a request carrying an idempotency key, which Clover uses
  to replay the first result instead of acting twice. Otherwise the caller gets
  :class:`~cloverpay.api.OutcomeUnknownError`, never a silent second attempt.
* HTTP 429 means Clover refused the request before acting: always retried.
  409 and 5xx are retried only when replay-safe (the server may have acted).
* The wait is exponential backoff with full jitter (``uniform(0, min(cap, base·2ⁿ))``),
  or exactly ``Retry-After`` when Clover sends it; a ``Retry-After`` longer than
  ``max_retry_after`` stops the retries and the error reaches the caller.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

__all__ = ["RetryDecision", "RetryPolicy"]

REPLAY_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclasses.dataclass(frozen=True, slots=True)
class RetryDecision:
    """The policy's answer: retry or not, after how many seconds, and why."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry settings. ``max_retries=0`` turns retries off.

    ``rng`` returns a float in [0, 1) and exists so tests can pin the jitter.
    """

    max_retries: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = frozenset({409, 429, 500, 502, 503, 504})
    rng: Callable[[], float] = dataclasses.field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("backoff times must be >= 0")

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt`` (1-based)."""
        cap = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        return self.rng() * cap

    def decide(
        self,
        *,
        attempt: int,
        replay_safe: bool,
        sent: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> RetryDecision:
        """Decide after ``attempt`` attempts (1 = the first one failed).

        ``status`` is the HTTP status when Clover answered, None after a connection
        failure; ``sent`` says whether the request may have reached Clover.
        """
        if attempt > self.max_retries:
            return RetryDecision(False, reason="retries exhausted")
        if status is None:
            if sent and not replay_safe:
                return RetryDecision(False, reason="sent and not replay-safe")
            return RetryDecision(True, self.backoff(attempt), "connection error")
        if status not in self.retry_statuses:
            return RetryDecision(False, reason=f"status {status} is final")
        if status != 429 and not replay_safe:
            return RetryDecision(False, reason=f"status {status} and not replay-safe")
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return RetryDecision(False, reason="Retry-After beyond max_retry_after")
            return RetryDecision(True, retry_after, f"status {status}, Retry-After")
        return RetryDecision(True, self.backoff(attempt), f"status {status}")
