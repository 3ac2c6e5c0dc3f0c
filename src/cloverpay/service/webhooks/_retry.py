"""The one exception an effect raises to have its inbox row retried after a backoff."""

from __future__ import annotations

__all__ = ["RetryLater"]


class RetryLater(Exception):
    """Clover could not answer yet (or the effect must wait); the row is retried."""
