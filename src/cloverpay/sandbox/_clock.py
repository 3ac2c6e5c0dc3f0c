"""A controllable clock: real time plus an offset that tests can advance.

Every timestamp the sandbox produces comes from here, so ``advance(3600)`` makes
tokens, sessions and pre-auths one hour older at once. Clover speaks epoch
milliseconds for charges/orders/customers/PAKMS and epoch seconds for OAuth
expirations and signatures; :meth:`Clock.now_ms` and :meth:`Clock.now_s` give both.
"""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    """Real time shifted by :attr:`offset` seconds (only ever moved forward)."""

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as a float."""
        return time.time() + self.offset

    def now_ms(self) -> int:
        """Epoch milliseconds."""
        return int((time.time() + self.offset) * 1000)

    def now_s(self) -> int:
        """Epoch seconds."""
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new offset. Negative values are refused."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward (seconds must be >= 0)")
        self.offset += seconds
        return self.offset

    def reset(self) -> None:
        """Back to real time."""
        self.offset = 0.0

    def snapshot(self) -> dict[str, float | int]:
        """JSON-ready view: ``{"now_ms", "now_s", "offset_s"}``."""
        return {"now_ms": self.now_ms(), "now_s": self.now_s(), "offset_s": self.offset}
