"""Order status transitions, as data.

Rules (spec §7; ``refunded``/``returned``/``canceled`` partly guessed [G]):

* an order starts ``created``;
* it becomes ``paid`` when its payments cover its amount;
* it can be ``canceled`` only while ``created`` (and, checked by the route, unpaid);
* a ``paid`` order can be ``fulfilled``;
* once everything paid has been given back it becomes ``refunded`` (refunds through
  ``/v1/refunds``) or ``returned`` (through ``/v1/orders/{id}/returns``), from
  ``paid``, ``fulfilled``, or ``created`` when it was only partly paid;
* ``refunded``, ``returned`` and ``canceled`` are final.

:func:`transition` is the only way statuses change; it refuses anything not in
:data:`ORDER_TRANSITIONS` with 400 ``order_status_invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ._errors import SandboxError
from ._records import Order

__all__ = ["ORDER_STATUSES", "ORDER_TRANSITIONS", "can_transition", "transition"]

ORDER_TRANSITIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "created": frozenset({"paid", "canceled", "refunded", "returned"}),
        "paid": frozenset({"fulfilled", "refunded", "returned"}),
        "fulfilled": frozenset({"refunded", "returned"}),
        "refunded": frozenset(),
        "returned": frozenset(),
        "canceled": frozenset(),
    }
)
ORDER_STATUSES: Final[frozenset[str]] = frozenset(ORDER_TRANSITIONS)


def can_transition(current: str, new: str) -> bool:
    return new in ORDER_TRANSITIONS.get(current, frozenset())


def transition(order: Order, new: str, now_ms: int, param: str = "status") -> None:
    """Move ``order`` to ``new`` (recording the time) or raise 400."""
    if not can_transition(order.status, new):
        raise SandboxError(
            400,
            "invalid_request_error",
            "order_status_invalid",
            f"Order {order.id} cannot go from {order.status} to {new}",
            param,
        )
    order.status = new
    order.status_transitions[new] = now_ms
