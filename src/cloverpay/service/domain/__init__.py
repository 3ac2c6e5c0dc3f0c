"""The service's rules as data: state tables and the one function that applies them."""

from cloverpay.service.domain.states import (
    ATTEMPT_TRANSITIONS,
    AUTHORIZATION_TRANSITIONS,
    FINAL_ATTEMPT_STATES,
    FINAL_INVOICE_STATES,
    INVOICE_TRANSITIONS,
    OPEN_ATTEMPT_STATES,
    AttemptKind,
    AttemptState,
    AuthorizationStatus,
    InvalidTransition,
    InvoiceStatus,
    apply_transition,
    is_allowed,
)

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
