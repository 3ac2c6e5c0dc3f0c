"""Clover's refunds of one of our payments, fetched outside any transaction (the
first half of :mod:`._refunds`): ``/v1/refunds?charge=`` for Ecommerce charges, with
our reference from each refund's ``metadata``; the v3 payment's ``refunds`` for
terminal payments, with our references read from ``/v1/refunds`` of the payment while
an open attempt of ours on it carries one (the v3 refunds carry no ``metadata``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select

from cloverpay.service.db import Merchant, Payment, PaymentAttempt
from cloverpay.service.domain import OPEN_ATTEMPT_STATES, AttemptKind
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.refund_refs import (
    carried_reference,
    listed_references,
    reference_of,
)
from cloverpay.service.services.refunds import REST_SOURCE_KIND
from cloverpay.service.webhooks._voids import V3PaymentFact

__all__ = ["RefundFact", "SyncRefunds", "fetch_refunds", "open_ours", "plan_refunds"]


@dataclass(frozen=True, slots=True)
class RefundFact:
    """A refund as Clover reports it."""

    id: str
    amount: int
    status: str | None = None
    currency: str | None = None
    created: int | None = None
    #: the attempt id our ``metadata`` names (:mod:`~cloverpay.service.services.refund_refs`)
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class SyncRefunds:
    """Clover's refunds of one of our payments, some of which no row of ours records."""

    merchant_id: str
    payment_id: str
    refunds: tuple[RefundFact, ...]


def fetch_refunds(
    ctx: ServiceContext,
    merchant: Merchant,
    clover_payment_id: str,
    *,
    terminal: bool,
    v3: V3PaymentFact | None = None,
    references: bool = False,
) -> list[RefundFact]:
    """Clover's refunds of a payment (of a terminal payment: from ``v3``, its v3 payment
    fetched already, if given; with ``references``, our references of its refunds sent
    through the REST API from ``/v1/refunds``, as the v3 ones carry none). Any failure
    raises (the row is retried later)."""
    if terminal and v3 is not None and not references:
        return [RefundFact(rid, amount, created=created) for rid, amount, created in v3.refunds]
    with ctx.gateway.client(merchant) as clover:
        if not terminal:
            return [
                RefundFact(
                    r.id,
                    r.amount or 0,
                    status=r.status,
                    currency=(r.currency or "").lower() or None,
                    created=r.created,
                    reference=reference_of(r.metadata),
                )
                for r in clover.refunds.list(charge=clover_payment_id)
            ]
        if v3 is not None:
            found = list(v3.refunds)
        else:
            payment = clover.platform.payments.retrieve(clover_payment_id)
            elements: list[dict[str, Any]] = (payment.refunds or {}).get("elements", [])
            found = [
                (str(r["id"]), int(r.get("amount") or 0), r.get("createdTime"))
                for r in elements
                if r.get("id")
            ]
        refs = listed_references(clover, clover_payment_id) if references and found else {}
    return [
        RefundFact(rid, amount, created=created, reference=refs.get(rid))
        for rid, amount, created in found
    ]


def _known_refund_ids(ctx: ServiceContext, payment_id: str) -> tuple[set[str], bool]:
    """The Clover refund ids our attempts of the payment record, and whether an open
    refund attempt of it carries our reference."""
    with ctx.sessions() as s:
        rows = s.scalars(
            select(PaymentAttempt.clover_refund_id).where(
                PaymentAttempt.payment_id == payment_id,
                PaymentAttempt.clover_refund_id.is_not(None),
            )
        ).all()
        open_rows = s.scalars(open_ours(payment_id)).all()
    return {r for r in rows if r}, any(carried_reference(a) for a in open_rows)


def open_ours(payment_id: str) -> Select[PaymentAttempt]:
    """Our open attempts on the payment that a refund at Clover may settle: refunds, and
    voids of an online payment (sent as a refund, settled as one)."""
    return (
        select(PaymentAttempt)
        .where(
            PaymentAttempt.payment_id == payment_id,
            PaymentAttempt.state.in_([st.value for st in OPEN_ATTEMPT_STATES]),
            or_(
                PaymentAttempt.kind == AttemptKind.REFUND.value,
                and_(
                    PaymentAttempt.kind == AttemptKind.VOID.value,
                    PaymentAttempt.source_kind == REST_SOURCE_KIND,
                ),
            ),
        )
        .order_by(PaymentAttempt.created_at, PaymentAttempt.id)
    )


def plan_refunds(
    ctx: ServiceContext,
    merchant: Merchant,
    payment: Payment,
    *,
    terminal: bool,
    v3: V3PaymentFact | None = None,
) -> SyncRefunds | None:
    """Fetch the payment's refunds; None when Clover shows none that we do not record."""
    known, referenced = _known_refund_ids(ctx, payment.id)
    facts = fetch_refunds(
        ctx, merchant, payment.clover_charge_id, terminal=terminal, v3=v3, references=referenced
    )
    new = tuple(
        sorted(
            (f for f in facts if f.id not in known),
            key=lambda f: (f.created or 0, f.id),
        )
    )
    return SyncRefunds(merchant.id, payment.id, new) if new else None
