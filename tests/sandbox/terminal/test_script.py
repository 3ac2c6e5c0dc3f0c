"""CustomerScript parsing: any JSON body either parses or names the bad field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.sandbox.terminal import CARDS, OUTCOMES, CustomerScript, ScriptError

FIELDS = [*CustomerScript.__dataclass_fields__, "count", "other"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=5,
)
values = st.one_of(
    json_values,
    st.sampled_from(sorted(CARDS) + sorted(OUTCOMES) + ["DUPLICATE", "OFFLINE", "after_auth"]),
)


@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
def test_parses_or_names_the_field(body: dict[str, Any]) -> None:
    try:
        script = CustomerScript.from_json(body)
    except ScriptError as exc:
        error: ScriptError | None = exc
    else:
        error = None
    if error is not None:
        assert error.field in body
        return
    assert script.card in CARDS
    assert script.outcome in OUTCOMES
    assert json.loads(json.dumps(script.to_json()))["card"] == script.card
    assert CustomerScript.from_json(script.to_json()) == script


@pytest.mark.parametrize("card", ["visa", "Mc", "AMEX"])
def test_card_names_are_case_insensitive(card: str) -> None:
    assert CustomerScript.from_json({"card": card}).card == card.upper()
