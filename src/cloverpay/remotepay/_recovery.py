"""What became of a payment whose answer was lost (RELIABILITY rules 2-3, scenario 8).

A sale whose connection dropped (or whose answer did not come in time) is never sent
again. Its outcome is looked up instead: on the device by ``externalPaymentId``
(``RETRIEVE_PAYMENT``), then through Clover's REST API (``GET /v3/merchants/{mId}/
payments?filter=externalPaymentId=…``) when the device no longer knows it, e.g. after a
reboot. Only evidence decides: a payment found, or a decline found, or both the device
and the REST API saying no payment exists. Anything else stays UNKNOWN.

[guess] "the device answered NOT_FOUND and the REST API has no payment" counts as proof
that nothing was charged. A real device might upload a payment to Clover's servers late
(offline payments); if yours can, treat NOT_PAID from source ``rest`` with care (check
``retrieve_pending_payments`` on the device) before retrying with a new id.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .protocol import Payment, Refund

if TYPE_CHECKING:
    from cloverpay.api import AsyncCloverClient

__all__ = [
    "OperationOutcome",
    "OperationResolution",
    "PaymentOutcome",
    "PaymentResolution",
    "RestPaymentFetch",
    "RestPaymentLookup",
    "outcome_of_result",
    "rest_payment_fetch",
    "rest_payment_lookup",
]

RestPaymentLookup = Callable[[str], Awaitable[Sequence[Any]]]
"""``await lookup(external_payment_id)`` -> the REST v3 payments carrying that id (objects
with ``result`` and a pydantic ``model_dump``, e.g. :class:`cloverpay.api.Payment`)."""

RestPaymentFetch = Callable[[str], Awaitable[Any | None]]
"""``await fetch(payment_id)`` -> that REST v3 payment with its refunds (an object with a
pydantic ``model_dump``, e.g. :class:`cloverpay.api.Payment`), or None if Clover has none."""

#: Payment results that mean money was taken (or authorized, for auths / pre-auths).
_PAID: frozenset[str] = frozenset({"SUCCESS", "AUTH"})
#: Payment results that mean no money moved.
_NOT_PAID: frozenset[str] = frozenset({"FAIL", "VOIDED"})


class PaymentOutcome(enum.StrEnum):
    """PAID: a payment with the id exists (``payment`` holds it). NOT_PAID: evidence
    that none was taken (declined, voided, or unknown to both device and REST API).
    UNKNOWN: no evidence either way; never treat it as failed, never re-send blindly."""

    PAID = "PAID"
    NOT_PAID = "NOT_PAID"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class PaymentResolution:
    """The verdict on one ``external_payment_id`` and where it came from."""

    external_payment_id: str
    outcome: PaymentOutcome
    source: Literal["device", "rest"] | None
    reason: str
    payment: Payment | None = None

    @property
    def paid(self) -> bool:
        return self.outcome is PaymentOutcome.PAID

    @property
    def unknown(self) -> bool:
        return self.outcome is PaymentOutcome.UNKNOWN


class OperationOutcome(enum.StrEnum):
    """What became of a refund or void whose answer was lost. DONE: evidence that it
    happened (a refund on the payment that was not there before, the payment VOIDED).
    NOT_DONE: evidence that it did not (the device is idle and the payment shows no such
    change). UNKNOWN: no evidence; do not send it again blindly."""

    DONE = "DONE"
    NOT_DONE = "NOT_DONE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class OperationResolution:
    """The verdict on one refund or void of ``payment_id`` and where it came from."""

    operation: Literal["refund", "void"]
    payment_id: str
    outcome: OperationOutcome
    source: Literal["device", "rest"] | None
    reason: str
    refund: Refund | None = None
    payment: Payment | None = None

    @property
    def unknown(self) -> bool:
        return self.outcome is OperationOutcome.UNKNOWN


def outcome_of_result(result: str | None) -> PaymentOutcome:
    """A payment's ``result`` as an outcome (an odd one, e.g. INITIATED, is UNKNOWN)."""
    if result in _PAID:
        return PaymentOutcome.PAID
    if result in _NOT_PAID:
        return PaymentOutcome.NOT_PAID
    return PaymentOutcome.UNKNOWN


def rest_payment_lookup(client: AsyncCloverClient) -> RestPaymentLookup:
    """The REST fallback through :mod:`cloverpay.api`: the merchant's v3 payments
    filtered by ``externalPaymentId`` (the client needs the merchant id and a token
    with payments read permission)."""

    async def lookup(external_payment_id: str) -> Sequence[Any]:
        pager = client.platform.payments.list(external_payment_id=external_payment_id)
        return await pager.to_list()

    return lookup


def rest_payment_fetch(client: AsyncCloverClient) -> RestPaymentFetch:
    """The REST view of one payment through :mod:`cloverpay.api` (v3 payment by id),
    for the recovery of refunds and voids. [guess] Real Clover lists a payment's
    refunds only with ``expand=refunds``; the sandbox always includes them."""
    from cloverpay.api import NotFoundError

    async def fetch(payment_id: str) -> Any | None:
        try:
            return await client.platform.payments.retrieve(payment_id)
        except NotFoundError:
            return None

    return fetch


def resolve_from_rest(external_payment_id: str, found: Sequence[Any]) -> PaymentResolution:
    """The verdict from the REST API's payments with that id (device said NOT_FOUND)."""
    matching = [p for p in found if getattr(p, "external_payment_id", None) == external_payment_id]
    paid = [p for p in matching if outcome_of_result(p.result) is PaymentOutcome.PAID]
    if len(paid) > 1:
        return PaymentResolution(
            external_payment_id,
            PaymentOutcome.PAID,
            "rest",
            f"{len(paid)} payments carry this externalPaymentId: check them by hand",
            _as_device_payment(paid[0]),
        )
    if paid:
        return PaymentResolution(
            external_payment_id,
            PaymentOutcome.PAID,
            "rest",
            "found through the REST API",
            _as_device_payment(paid[0]),
        )
    if matching and all(outcome_of_result(p.result) is PaymentOutcome.NOT_PAID for p in matching):
        return PaymentResolution(
            external_payment_id,
            PaymentOutcome.NOT_PAID,
            "rest",
            f"the REST API has it as {matching[-1].result}",
            _as_device_payment(matching[-1]),
        )
    if matching:
        return PaymentResolution(
            external_payment_id,
            PaymentOutcome.UNKNOWN,
            "rest",
            f"the REST API has it as {matching[-1].result}",
            _as_device_payment(matching[-1]),
        )
    return PaymentResolution(
        external_payment_id,
        PaymentOutcome.NOT_PAID,
        "rest",
        "neither the device nor the REST API knows a payment with this id",
    )


def as_device_payment(rest_payment: Any) -> Payment | None:
    """A REST v3 payment (pydantic model) as the device's :class:`Payment`, or None."""
    return _as_device_payment(rest_payment)


def _as_device_payment(rest_payment: Any) -> Payment | None:
    """A REST v3 payment in the device's Payment model (same camelCase fields)."""
    try:
        data = rest_payment.model_dump(mode="json", by_alias=True, exclude_none=True)
        return Payment.model_validate(data)
    except Exception:
        return None
