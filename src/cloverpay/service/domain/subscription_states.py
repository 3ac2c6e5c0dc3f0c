"""Subscription states, as a literal transition table.

Rules (the same as ``states.py``):

* Every change goes through :func:`apply_subscription_transition`; a pair not in the
  table is refused with :class:`~cloverpay.service.domain.states.InvalidTransition`.
* Applying the state a subscription already has is a no-op (``False``, no audit row).
* ``active``: the last period was paid (or none was billed yet). ``past_due``: the
  current period's charge failed and a dunning retry is scheduled; a payment brings it
  back to ``active``. ``deactivated``: the maximum of consecutive failures was reached
  (or Clover's Recurring API deactivated it); no more billing, a person decides.
  ``canceled``: ended on request; final.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from cloverpay.service.domain.states import InvalidTransition

__all__ = [
    "BILLABLE_SUBSCRIPTION_STATES",
    "SUBSCRIPTION_TRANSITIONS",
    "SubscriptionStatus",
    "apply_subscription_transition",
    "subscription_transition_allowed",
]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    DEACTIVATED = "deactivated"
    CANCELED = "canceled"


_S = SubscriptionStatus

SUBSCRIPTION_TRANSITIONS: Mapping[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    _S.ACTIVE: frozenset({_S.PAST_DUE, _S.DEACTIVATED, _S.CANCELED}),
    _S.PAST_DUE: frozenset({_S.ACTIVE, _S.DEACTIVATED, _S.CANCELED}),
    _S.DEACTIVATED: frozenset({_S.CANCELED}),
    _S.CANCELED: frozenset(),
}

#: States the billing run still works on.
BILLABLE_SUBSCRIPTION_STATES = frozenset({_S.ACTIVE, _S.PAST_DUE})


def subscription_transition_allowed(current: str, target: str) -> bool:
    """True for a pair in the table or the same state; False for unknown names too."""
    try:
        src, dst = SubscriptionStatus(current), SubscriptionStatus(target)
    except ValueError:
        return False
    return src == dst or dst in SUBSCRIPTION_TRANSITIONS[src]


def apply_subscription_transition(current: str, target: SubscriptionStatus) -> bool:
    """True for a change, False for a no-op; raises InvalidTransition otherwise."""
    src = SubscriptionStatus(current)
    if src == target:
        return False
    if target not in SUBSCRIPTION_TRANSITIONS[src]:
        raise InvalidTransition("subscription", src.value, target.value)
    return True
