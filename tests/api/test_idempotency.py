from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.api import idempotency_key_for, new_idempotency_key


def test_deterministic_and_distinct() -> None:
    a = idempotency_key_for("invoice-attempt", 42)
    assert a == idempotency_key_for("invoice-attempt", "42")
    assert a != idempotency_key_for("invoice-attempt", 43)
    assert a != idempotency_key_for("refund", 42)
    # Fixed value: changing the derivation would break keys already stored by users.
    assert a == "75f54ca8-aace-4f62-ab03-038e1be443a6"


@given(st.text(min_size=1), st.text(min_size=1))
def test_shape_is_uuid_v4(ns: str, record: str) -> None:
    key = uuid.UUID(idempotency_key_for(ns, record))
    assert key.version == 4
    assert key.variant == uuid.RFC_4122


def test_random_keys() -> None:
    assert new_idempotency_key() != new_idempotency_key()
    assert uuid.UUID(new_idempotency_key()).version == 4


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="namespace"):
        idempotency_key_for("", 1)
    with pytest.raises(ValueError, match="record_id"):
        idempotency_key_for("ns", "")
