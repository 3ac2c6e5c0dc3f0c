"""The state tables, property-tested: apply_transition does exactly what the tables say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.service.domain import (
    ATTEMPT_TRANSITIONS,
    FINAL_ATTEMPT_STATES,
    FINAL_INVOICE_STATES,
    INVOICE_TRANSITIONS,
    AttemptState,
    InvalidTransition,
    InvoiceStatus,
    apply_transition,
    is_allowed,
)

invoice_states = st.sampled_from(list(InvoiceStatus))
attempt_states = st.sampled_from(list(AttemptState))


def test_tables_cover_every_state() -> None:
    assert set(INVOICE_TRANSITIONS) == set(InvoiceStatus)
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptState)
    assert {AttemptState.SUCCEEDED, AttemptState.FAILED} == FINAL_ATTEMPT_STATES
    assert {InvoiceStatus.VOID} == FINAL_INVOICE_STATES
    # paid is left only when a payment is voided: never for draft, void or uncollectible
    assert INVOICE_TRANSITIONS[InvoiceStatus.PAID] == {
        InvoiceStatus.PARTIALLY_PAID,
        InvoiceStatus.OPEN,
    }


def test_unknown_never_goes_back_to_pending() -> None:
    # Only an answer resolves an unknown attempt; nothing returns it to "not sent".
    assert AttemptState.PENDING not in ATTEMPT_TRANSITIONS[AttemptState.UNKNOWN]
    assert not any(AttemptState.PENDING in nxt for nxt in ATTEMPT_TRANSITIONS.values())


@given(invoice_states, invoice_states)
def test_invoice_transitions_follow_the_table(a: InvoiceStatus, b: InvoiceStatus) -> None:
    if a == b:
        assert apply_transition("invoice", a, b) is False
    elif b in INVOICE_TRANSITIONS[a]:
        assert apply_transition("invoice", a, b) is True
    else:
        with pytest.raises(InvalidTransition):
            apply_transition("invoice", a, b)


@given(attempt_states, attempt_states)
def test_attempt_transitions_follow_the_table(a: AttemptState, b: AttemptState) -> None:
    if a == b:
        assert apply_transition("attempt", a, b) is False
    elif b in ATTEMPT_TRANSITIONS[a]:
        assert apply_transition("attempt", a, b) is True
    else:
        with pytest.raises(InvalidTransition):
            apply_transition("attempt", a, b)


@given(invoice_states, attempt_states)
def test_states_of_different_machines_never_mix(a: InvoiceStatus, b: AttemptState) -> None:
    with pytest.raises(InvalidTransition):
        apply_transition("x", a, b)  # type: ignore[type-var]
    assert not is_allowed(a, b)  # type: ignore[type-var]


@given(st.lists(attempt_states, max_size=12))
def test_any_walk_of_attempts_ends_final_at_most_once(walk: list[AttemptState]) -> None:
    """Apply a random sequence, skipping refused steps: once final, nothing changes it."""
    state = AttemptState.PENDING
    final_at: int | None = None
    for i, target in enumerate(walk):
        try:
            changed = apply_transition("attempt", state, target)
        except InvalidTransition:
            continue
        if changed:
            assert final_at is None, "a final attempt changed state"
            state = target
            if state in FINAL_ATTEMPT_STATES:
                final_at = i


@given(st.lists(invoice_states, max_size=12))
def test_any_walk_of_invoices_stays_in_table(walk: list[InvoiceStatus]) -> None:
    state = InvoiceStatus.DRAFT
    for target in walk:
        try:
            if apply_transition("invoice", state, target):
                assert target in INVOICE_TRANSITIONS[state]
                state = target
        except InvalidTransition:
            assert target not in INVOICE_TRANSITIONS[state]
    assert state in INVOICE_TRANSITIONS
