"""Pre-authorizations: a charge Clover authorized with ``capture: false``, held on the
card until it is captured (in full or in part) or voided.

The authorize, capture and void calls are payment attempts (intent rows, RELIABILITY.md
rule 1): the authorize attempt is a ``charge`` attempt with ``capture = false`` (what
Clover calls it: ``POST /v1/charges`` with ``capture: false``), so the partial unique
index "one open charge attempt per invoice" covers it too; capture and void attempts
point at the authorization (``payment_attempts.authorization_id``), at most one of them
open per authorization (a partial unique index). A capture records a :class:`Payment`
(the amount applied to the invoice); the authorization keeps what was held.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, new_id, utcnow
from cloverpay.service.domain.states import AuthorizationStatus

__all__ = ["Authorization"]


class Authorization(Base):
    __tablename__ = "authorizations"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(repr(s.value) for s in AuthorizationStatus) + ")",
            name="status",
        ),
        CheckConstraint(
            "amount > 0 AND tip_amount >= 0 AND amount_captured >= 0 AND amount_captured <= amount",
            name="amounts",
        ),
        Index("ix_authorizations_invoice", "invoice_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    #: The authorize attempt (a ``charge`` attempt with ``capture = false``).
    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), unique=True)
    #: Clover's charge, authorized and not captured (until it is).
    clover_charge_id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=AuthorizationStatus.AUTHORIZED.value)
    #: Held on the card for the invoice, tip excluded.
    amount: Mapped[int] = mapped_column(BigInteger)
    #: The tip, kept apart from the amount (captured with it, never applied to the invoice).
    tip_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_captured: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
