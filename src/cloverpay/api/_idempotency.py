"""Idempotency keys for requests that move money.

Clover replays the first result of a request whose ``idempotency-key`` it has seen,
so a retry with the same key cannot charge twice (spec §13.4). The client makes one
key per logical call and keeps it across its own retries. For retries across process
restarts, derive the key from your own record id with :func:`idempotency_key_for`:
the same record always gives the same key (RELIABILITY.md rule 1).
"""

from __future__ import annotations

import uuid

__all__ = ["IDEMPOTENCY_NAMESPACE", "idempotency_key_for", "new_idempotency_key"]

#: Namespace of :func:`idempotency_key_for` (fixed forever: changing it changes keys).
IDEMPOTENCY_NAMESPACE = uuid.UUID("6b1c1f0e-93c4-5d3e-9a53-0c10fe000001")


def new_idempotency_key() -> str:
    """A fresh random key (UUID4)."""
    return str(uuid.uuid4())


def idempotency_key_for(namespace: str, record_id: object) -> str:
    """A deterministic key for ``record_id`` within ``namespace`` (e.g. ``"invoice-attempt"``).

    Computed like a UUID5 (SHA-1 over a fixed namespace and ``"{namespace}:{record_id}"``)
    but stamped version 4, because Clover documents the header as a v4 UUID and a
    server could check the version digit. Same input, same key, in every process.
    """
    if not namespace:
        raise ValueError("namespace must be a non-empty string")
    if record_id is None or record_id == "":
        raise ValueError("record_id must not be empty")
    derived = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{namespace}:{record_id}")
    return str(uuid.UUID(bytes=derived.bytes, version=4))
