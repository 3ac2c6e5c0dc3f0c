"""Ecommerce payment logic shared by charges, order pay, customers and refunds.

Every operation validates everything first (:func:`parse_charge`,
:func:`resolve_source`) and only then mutates state (:func:`execute_charge`; captures
and refunds are in :mod:`._settlement`), under ``state.lock``, so an error never leaves anything
half-written. A declined charge is not an error in that sense: it is stored with
``status: "failed"`` and reported as HTTP 402 (or 400, ``SandboxConfig.decline_status``)
with ``code: card_declined``, its ``decline_code`` and the ``charge`` id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import _errors as E
from ._order_states import transition
from ._records import CardToken, Charge, Order
from ._state import Merchant, SandboxState
from ._validate import (
    MAX_AMOUNT,
    opt_bool,
    opt_dict,
    opt_email,
    opt_int,
    opt_metadata,
    opt_str,
    req_currency,
    req_int,
)

__all__ = [
    "ChargeRequest",
    "ResolvedSource",
    "execute_charge",
    "mark_paid",
    "multipay_copy",
    "parse_charge",
    "resolve_source",
]

_EXT_REF = re.compile(r"^[A-Za-z0-9 ]{1,12}$")
_TENDER_KEYS = ("com.clover.tender.cash", "com.clover.tender.check")


@dataclass(slots=True)
class ChargeRequest:
    amount: int
    currency: str
    source: str
    capture: bool = True
    tip_amount: int = 0
    tax_amount: int = 0
    description: str | None = None
    ecomind: str = "ecom"
    external_reference_id: str | None = None
    metadata: dict[str, Any] | None = None
    receipt_email: str | None = None
    stored_credentials: dict[str, Any] | None = None
    tender: dict[str, Any] | None = None
    intent: str | None = None


def _stored_credentials(body: dict[str, Any]) -> dict[str, Any] | None:
    sc = opt_dict(body, "stored_credentials")
    if sc is None:
        return None
    opt_str(sc, "sequence", choices=("FIRST", "SUBSEQUENT"), param="stored_credentials.sequence")
    opt_str(
        sc, "initiator", choices=("MERCHANT", "CARDHOLDER"), param="stored_credentials.initiator"
    )
    opt_bool(sc, "is_scheduled", param="stored_credentials.is_scheduled")
    opt_str(
        sc,
        "bill_pay_indicator",
        choices=("INSTALLMENT", "RECURRING"),
        param="stored_credentials.bill_pay_indicator",
    )
    return dict(sc)


def _tender(body: dict[str, Any]) -> dict[str, Any] | None:
    tender = opt_dict(body, "tender")
    if tender is None:
        return None
    label_key = opt_str(tender, "label_key", choices=_TENDER_KEYS, param="tender.label_key")
    tid = opt_str(tender, "id", max_len=13, param="tender.id")
    label = opt_str(tender, "label", max_len=127, param="tender.label")
    if not (label_key or tid or label):
        raise E.missing_param("tender.label_key", "field (or tender.id / tender.label)")
    return {k: v for k, v in (("label_key", label_key), ("id", tid), ("label", label)) if v}


def parse_charge(
    body: dict[str, Any],
    *,
    amount: int | None = None,
    currency: str | None = None,
    source: str | None = None,
) -> ChargeRequest:
    """Validate a charge body (``/v1/charges`` or order pay). Nothing is looked up."""
    if amount is None:
        amount = req_int(
            body, "amount", minimum=1, maximum=MAX_AMOUNT, too_large=E.amount_too_large
        )
    if currency is None:
        currency = req_currency(body)
    if source is None:
        src = opt_str(body, "source", max_len=255)
        if not src:
            raise E.missing_param("source")
        source = src
    tip = opt_int(body, "tip_amount", minimum=0, invalid=E.invalid_tip_amount) or 0
    if tip > MAX_AMOUNT or amount + tip > MAX_AMOUNT:
        raise E.amount_too_large("tip_amount", "amount plus tip_amount exceeds 99999999 cents")
    tax = opt_int(body, "tax_amount", minimum=0, invalid=E.invalid_tax_amount) or 0
    if tax > amount:
        raise E.invalid_tax_amount("tax_amount must not exceed amount (amount includes tax)")
    req = ChargeRequest(
        amount=amount, currency=currency, source=source, tip_amount=tip, tax_amount=tax
    )
    capture = opt_bool(body, "capture")
    req.capture = True if capture is None else capture
    req.description = opt_str(body, "description", max_len=255)
    req.ecomind = opt_str(body, "ecomind", choices=("ecom", "moto")) or "ecom"
    req.external_reference_id = opt_str(
        body,
        "external_reference_id",
        pattern=_EXT_REF,
        pattern_help="must be 1-12 letters, digits or spaces",
    )
    req.metadata = opt_metadata(body)
    req.receipt_email = opt_email(body, "receipt_email")
    req.stored_credentials = _stored_credentials(body)
    req.tender = _tender(body)
    req.intent = opt_str(body, "intent", choices=("save_credential_on_file",))
    customer = body.get("customer")  # woo-official sends an object; order pay an id
    if customer is not None and not isinstance(customer, dict | str):
        raise E.invalid_param("customer", "must be an object or a customer id")
    return req


@dataclass(slots=True)
class ResolvedSource:
    source_json: dict[str, Any]
    payment_method_details: str
    token: CardToken | None = None
    customer_id: str | None = None


def resolve_source(state: SandboxState, merchant: Merchant, req: ChargeRequest) -> ResolvedSource:
    """Look up the source; raises on unknown ids, used tokens, missing card on file."""
    src = req.source
    store = state.ecommerce
    mid = merchant.merchant_id
    if src == "alternate_tender":
        if req.tender is None:
            raise E.missing_param("tender", "field with source 'alternate_tender'")
        return ResolvedSource(
            {"object": "alternate_tender", "tender": req.tender}, "alternate_tender"
        )
    if src.startswith("clv_"):
        token = store.tokens.require(src, mid, "source")
        if token.type == "ONEOFF" and token.used:
            raise E.token_already_used(token.id)
        if token.type != "ONEOFF" and req.stored_credentials is None:
            raise E.missing_param("stored_credentials", "field with a multi-pay token")
        return ResolvedSource(token.source_json(), token.payment_method, token)
    customer = store.customers.get(src, mid)
    if customer is None:
        raise E.resource_missing("source", src, "source")
    card = store.cards.get(customer.card_id, mid) if customer.card_id else None
    saved = store.tokens.get(card.token_id, mid) if card is not None else None
    if card is None or saved is None:
        raise E.card_on_file_missing(customer.id)
    return ResolvedSource(
        {**saved.source_json(), "id": card.id}, saved.payment_method, saved, customer.id
    )


def _new_order(state: SandboxState, merchant: Merchant, req: ChargeRequest, now: int) -> Order:
    items: list[dict[str, Any]] = [
        {
            "type": "sku",
            "amount": req.amount - req.tax_amount,
            "currency": req.currency.upper(),
            "description": req.description or "Ecommerce charge",
            "quantity": 1,
        }
    ]
    if req.tax_amount:
        items.append(
            {
                "type": "tax",
                "amount": req.tax_amount,
                "currency": req.currency,
                "description": "Tax",
            }
        )
    order = Order(
        id=state.ids.clover_id(),
        merchant_id=merchant.merchant_id,
        created_ms=now,
        amount=req.amount,
        currency=req.currency.upper(),
        items=items,
        email=req.receipt_email,
        tax_amount=req.tax_amount,
    )
    state.ecommerce.orders.add(order.id, order, now, merchant.merchant_id)
    return order


def execute_charge(
    state: SandboxState,
    merchant: Merchant,
    req: ChargeRequest,
    resolved: ResolvedSource,
    order: Order | None = None,
) -> Charge:
    """Create the charge (and, for ``/v1/charges``, its order). Caller holds the lock
    and has validated everything. Returns the charge, approved or failed."""
    now = state.clock.now_ms()
    store = state.ecommerce
    mid = merchant.merchant_id
    token = resolved.token
    decline = token.decline_code if token is not None else None
    warning = None
    if token is not None:
        if token.type == "ONEOFF":
            token.used = True
        token.last_accessed_ms = now
        sequence = (req.stored_credentials or {}).get("sequence")
        if sequence == "SUBSEQUENT" and not token.cof_initialized:
            warning = (
                "Subsequent credential on file pay request sent for without Initial "
                "credential on file pay request."
            )
    created_order = order is None
    if order is None:
        order = _new_order(state, merchant, req, now)
    approved = decline is None
    charge = Charge(
        id=state.ids.clover_id(),
        merchant_id=mid,
        created_ms=now,
        amount=req.amount,
        currency=req.currency,
        status="succeeded" if approved else "failed",
        captured=approved and req.capture,
        amount_captured=req.amount if approved and req.capture else 0,
        source=resolved.source_json,  # a fresh dict per resolve
        payment_method_details=resolved.payment_method_details,
        order=order.id,
        customer=resolved.customer_id,
        tax_amount=req.tax_amount,
        tip_amount=req.tip_amount,
        description=req.description,
        ecomind=req.ecomind,
        metadata=req.metadata,
        external_reference_id=req.external_reference_id,
        receipt_email=req.receipt_email,
        stored_credentials=req.stored_credentials,
        warning_message=warning,
    )
    if approved:
        charge.ref_num = state.ids.digits(12)
        charge.auth_code = state.ids.digits(6)
        if token is not None and (req.stored_credentials or {}).get("sequence") == "FIRST":
            token.cof_initialized = True
        if token is not None and req.intent == "save_credential_on_file":
            multipay = multipay_copy(state, token, now)
            charge.saved_credentials_on_file = {"token": multipay.id}
    else:
        assert token is not None
        charge.failure_code = decline
        charge.failure_message = token.decline_message
    index_names = [mid]
    if charge.customer:
        index_names.append(f"{mid}|customer|{charge.customer}")
    store.charges.add(charge.id, charge, now, *index_names)
    if approved:
        if created_order:
            if charge.captured:
                mark_paid(order, req.amount, charge, now)
        else:
            mark_paid(order, req.amount, charge, now)
    state.notify("P", charge.id, "CREATE", merchant_id=mid)
    state.notify("O", order.id, "CREATE" if created_order else "UPDATE", merchant_id=mid)
    return charge


def multipay_copy(state: SandboxState, token: CardToken, now: int) -> CardToken:
    copy = CardToken(
        id=state.ids.token(),
        merchant_id=token.merchant_id,
        created_ms=now,
        brand=token.brand,
        first6=token.first6,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        decline_code=token.decline_code,
        decline_message=token.decline_message,
        type="MULTIPAY",
        name=token.name,
        address_zip=token.address_zip,
        cvc_check=token.cvc_check,
        cof_initialized=True,
        instrument=token.instrument,
        details=dict(token.details),
    )
    state.ecommerce.tokens.add(copy.id, copy, now)
    return copy


def mark_paid(order: Order, amount: int, charge: Charge, now: int) -> None:
    order.amount_paid += amount
    order.charges.append(charge.id)
    order.last_charge = charge
    if order.amount_paid >= order.amount and order.status == "created":
        transition(order, "paid", now)
