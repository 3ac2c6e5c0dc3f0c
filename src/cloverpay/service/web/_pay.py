"""Paying from the hosted pay page, exactly once per page submission.

Each rendering of the pay page carries a random ``attempt`` nonce. A submission first
inserts ``paypage:<invoice>:<nonce>`` into the core's idempotency table (unique per
merchant): the first insert runs the payment, a replay or a concurrent double-submit
loses at the constraint and is shown the first one's outcome. The payment itself goes
through the core's units of work only (:func:`add_card` to save a card on file,
:func:`pay_invoice` to charge), whose own guarantees (one open attempt per invoice,
idempotency key derived from the attempt row, idempotent settlement that a webhook can
race) make a second charge impossible even across different nonces.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import IdempotencyKey, Invoice, utcnow
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.customers import CardInput, add_card
from cloverpay.service.services.payments import pay_invoice

__all__ = ["PayOutcome", "PaySubmission", "submit_payment"]

_WAIT_S = 15.0


@dataclass(frozen=True, slots=True)
class PaySubmission:
    invoice_id: str
    nonce: str
    token: str
    save_card: bool = False
    brand: str | None = None
    last4: str | None = None
    exp_month: str | None = None
    exp_year: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class PayOutcome:
    """``state``: succeeded, failed, unknown, pending, in_progress or error."""

    state: str
    attempt_id: str | None = None
    message: str | None = None
    replayed: bool = False

    def to_json(self) -> bytes:
        return json.dumps(
            {"state": self.state, "attempt_id": self.attempt_id, "message": self.message}
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PayOutcome:
        data = json.loads(raw)
        return cls(data["state"], data.get("attempt_id"), data.get("message"), replayed=True)


def _key(sub: PaySubmission) -> str:
    return f"paypage:{sub.invoice_id}:{sub.nonce}"


def _claim(ctx: ServiceContext, merchant_id: str, sub: PaySubmission) -> bool:
    fingerprint = hashlib.sha256(f"paypage {sub.invoice_id}".encode()).hexdigest()
    try:
        with ctx.sessions.begin() as s:
            s.add(
                IdempotencyKey(
                    merchant_id=merchant_id,
                    key=_key(sub),
                    method="POST",
                    path=f"/pay/{sub.invoice_id}",
                    request_fingerprint=fingerprint,
                )
            )
        return True
    except IntegrityError:
        return False


def _stored(ctx: ServiceContext, merchant_id: str, sub: PaySubmission) -> PayOutcome | None:
    with ctx.sessions() as s:
        row = s.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == _key(sub)
            )
        )
        if row is None or row.status != "completed" or row.response_body is None:
            return None
        return PayOutcome.from_json(row.response_body)


def _store(ctx: ServiceContext, merchant_id: str, sub: PaySubmission, out: PayOutcome) -> None:
    with ctx.sessions.begin() as s:
        row = s.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == _key(sub)
            )
        )
        if row is None:
            return
        # Errors are kept too: a replay gets the same answer, and the page the payer is
        # sent back to carries a fresh nonce for a new try.
        row.status = "completed"
        row.response_status = 200
        row.response_body = out.to_json()
        row.response_content_type = "application/json"
        row.completed_at = utcnow()


def _pay(ctx: ServiceContext, invoice: Invoice, sub: PaySubmission) -> PayOutcome:
    actor = "pay_page"
    try:
        card_id: str | None = None
        if sub.save_card and invoice.customer_id is not None:
            card = add_card(
                ctx,
                invoice.merchant_id,
                invoice.customer_id,
                CardInput(
                    token=sub.token,
                    brand=sub.brand,
                    last4=sub.last4,
                    exp_month=sub.exp_month,
                    exp_year=sub.exp_year,
                ),
                actor=actor,
            )
            card_id = card.id
        attempt = pay_invoice(
            ctx,
            invoice.merchant_id,
            invoice.id,
            token=None if card_id else sub.token,
            card_on_file_id=card_id,
            initiator="CARDHOLDER",
            client_ip=sub.client_ip,
            actor=actor,
        )
    except ServiceError as exc:
        return PayOutcome("error", message=exc.message)
    return PayOutcome(attempt.state, attempt.id, attempt.failure_message)


def submit_payment(ctx: ServiceContext, invoice: Invoice, sub: PaySubmission) -> PayOutcome:
    """Run the payment of one page submission once; replays get the first outcome."""
    merchant_id = invoice.merchant_id
    if not _claim(ctx, merchant_id, sub):
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            stored = _stored(ctx, merchant_id, sub)
            if stored is not None:
                return stored
            time.sleep(0.1)
        return PayOutcome("in_progress", message="This payment is still being processed.")
    outcome = PayOutcome("error", message="The payment could not be completed.")
    try:
        outcome = _pay(ctx, invoice, sub)
    finally:
        _store(ctx, merchant_id, sub, outcome)
    return outcome
