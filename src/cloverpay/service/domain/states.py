"""Invoice and payment-attempt states, as literal transition tables.

Rules (RELIABILITY.md rules 2 and 7):

* Every change of state goes through :func:`apply_transition`; it refuses any pair
  that is not in the table with :class:`InvalidTransition`.
* Applying the state the object already has is a no-op (``False`` is returned, no audit
  row is written): a replayed webhook or a second reconciler pass changes nothing.
* Invoices: ``draft`` is editable; ``open`` has a Clover order and can be paid;
  ``partially_paid`` and ``paid`` are derived from the payments recorded; ``void`` is
  final (only before any money was taken); ``uncollectible`` can still be paid.
  Refunds never change the invoice state: the refunded amount is derived. A *void* of
  a payment does: Clover reverses it as if it never happened, so the payment stops
  counting and the status is derived again (``paid``/``partially_paid`` back to
  ``partially_paid``/``open``; only a recorded void does this).
* Payment attempts (one row per call that can move money: charge, capture, refund,
  void): ``pending`` is committed *before* the call; ``unknown`` means the call left
  us and no usable answer came back. Only an answer from Clover (approval, decline,
  a lookup proving there is no charge) leaves ``pending``/``unknown`` for
  ``succeeded``/``failed``. ``succeeded`` and ``failed`` are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "ATTEMPT_TRANSITIONS",
    "AUTHORIZATION_TRANSITIONS",
    "FINAL_ATTEMPT_STATES",
    "FINAL_INVOICE_STATES",
    "INVOICE_TRANSITIONS",
    "OPEN_ATTEMPT_STATES",
    "AttemptKind",
    "AttemptState",
    "AuthorizationStatus",
    "InvalidTransition",
    "InvoiceStatus",
    "apply_transition",
    "is_allowed",
]


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class AttemptState(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AttemptKind(StrEnum):
    CHARGE = "charge"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"


class AuthorizationStatus(StrEnum):
    """A pre-authorization: ``authorized`` (held on the card) until it is ``captured``
    (in full or in part: the rest is released) or ``voided``. Both are final."""

    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    VOIDED = "voided"


_I = InvoiceStatus
_A = AttemptState

INVOICE_TRANSITIONS: Mapping[InvoiceStatus, frozenset[InvoiceStatus]] = {
    _I.DRAFT: frozenset({_I.OPEN, _I.VOID}),
    _I.OPEN: frozenset({_I.PARTIALLY_PAID, _I.PAID, _I.VOID, _I.UNCOLLECTIBLE}),
    # -> open: a void of the invoice's only payments
    _I.PARTIALLY_PAID: frozenset({_I.PAID, _I.UNCOLLECTIBLE, _I.OPEN}),
    _I.UNCOLLECTIBLE: frozenset({_I.PARTIALLY_PAID, _I.PAID, _I.VOID}),
    # only a void of a payment leaves paid (the payment stops counting)
    _I.PAID: frozenset({_I.PARTIALLY_PAID, _I.OPEN}),
    _I.VOID: frozenset(),
}

ATTEMPT_TRANSITIONS: Mapping[AttemptState, frozenset[AttemptState]] = {
    _A.PENDING: frozenset({_A.UNKNOWN, _A.SUCCEEDED, _A.FAILED}),
    _A.UNKNOWN: frozenset({_A.SUCCEEDED, _A.FAILED}),
    _A.SUCCEEDED: frozenset(),
    _A.FAILED: frozenset(),
}

AUTHORIZATION_TRANSITIONS: Mapping[AuthorizationStatus, frozenset[AuthorizationStatus]] = {
    AuthorizationStatus.AUTHORIZED: frozenset(
        {AuthorizationStatus.CAPTURED, AuthorizationStatus.VOIDED}
    ),
    AuthorizationStatus.CAPTURED: frozenset(),
    AuthorizationStatus.VOIDED: frozenset(),
}

FINAL_INVOICE_STATES = frozenset(s for s, nxt in INVOICE_TRANSITIONS.items() if not nxt)
FINAL_ATTEMPT_STATES = frozenset(s for s, nxt in ATTEMPT_TRANSITIONS.items() if not nxt)
#: Attempts that block follow-up operations until resolved.
OPEN_ATTEMPT_STATES = frozenset({_A.PENDING, _A.UNKNOWN})

S = TypeVar("S", InvoiceStatus, AttemptState, AuthorizationStatus)


class InvalidTransition(ValueError):
    """A state change that is not in the table."""

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(f"{entity} cannot go from {current} to {target}")
        self.entity = entity
        self.current = current
        self.target = target


def is_allowed(current: S, target: S) -> bool:
    """True if ``current -> target`` is in the table or is the same state."""
    if current == target:
        return True
    if isinstance(current, InvoiceStatus) and isinstance(target, InvoiceStatus):
        return target in INVOICE_TRANSITIONS[current]
    if isinstance(current, AttemptState) and isinstance(target, AttemptState):
        return target in ATTEMPT_TRANSITIONS[current]
    if isinstance(current, AuthorizationStatus) and isinstance(target, AuthorizationStatus):
        return target in AUTHORIZATION_TRANSITIONS[current]
    return False


def apply_transition(entity: str, current: S, target: S) -> bool:
    """Check ``current -> target``. Returns True for a change, False for a no-op.

    Raises :class:`InvalidTransition` for anything not in the table.
    """
    if type(current) is not type(target):
        raise InvalidTransition(entity, str(current), str(target))
    if current == target:
        return False
    if not is_allowed(current, target):
        raise InvalidTransition(entity, current.value, target.value)
    return True
