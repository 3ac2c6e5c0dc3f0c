"""Bounded event log: every request the sandbox served, later every webhook sent.

Entries are redacted by construction: only method, path (no query string), status,
duration, idempotency key, fault applied and the merchant id are kept; never bodies,
headers, card numbers, CVVs, tokens or keys.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any

__all__ = ["EventLog"]


class EventLog:
    """A thread-safe ring buffer of JSON-ready dicts."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append an event of ``kind`` (``"request"``, ``"webhook"``, ...)."""
        with self._lock:
            event = {"seq": next(self._ids), "kind": kind, **fields}
            self._events.append(event)
        return event

    def request(
        self,
        *,
        ts_ms: int,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        idempotency_key: str | None = None,
        fault: str | None = None,
        replayed: bool = False,
    ) -> None:
        self.add(
            "request",
            ts_ms=ts_ms,
            method=method,
            path=path,
            status=status,
            duration_ms=round(duration_ms, 3),
            idempotency_key=idempotency_key,
            fault=fault,
            replayed=replayed,
        )

    def list(self, kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; optionally only ``kind``; optionally the last ``limit``."""
        with self._lock:
            items = [e for e in self._events if kind is None or e["kind"] == kind]
        return items[-limit:] if limit else items

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        return len(self._events)
