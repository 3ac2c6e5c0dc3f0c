"""Invoices, payment attempts (intent rows), payments and refunds.

Uniqueness lives here (RELIABILITY.md rule 4): one open charge attempt per invoice
(a partial unique index), unique Clover ids, unique idempotency keys, unique
(merchant, invoice number), unique (subscription, period).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloverpay.service.db.base import Base, new_id, utcnow
from cloverpay.service.domain.states import AttemptKind, AttemptState, InvoiceStatus

__all__ = ["Invoice", "InvoiceLineItem", "Payment", "PaymentAttempt", "Refund"]


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


_OPEN_CHARGE = text("kind = 'charge' AND state IN ('pending', 'unknown')")
_OPEN_ON_AUTHORIZATION = text("kind IN ('capture', 'void') AND state IN ('pending', 'unknown')")


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("merchant_id", "number"),
        UniqueConstraint("subscription_id", "period_start"),
        CheckConstraint(_in("status", list(InvoiceStatus)), name="status"),
        CheckConstraint("total >= 0 AND subtotal >= 0 AND tax_amount >= 0", name="amounts"),
        Index("ix_invoices_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    #: Human-readable, unique per merchant, e.g. ``INV-000042``.
    number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default=InvoiceStatus.DRAFT.value)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: subtotal + tax; fixed once the invoice is open. Paid amounts are derived.
    total: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str | None] = mapped_column(Text)
    clover_order_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    period_start: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    line_items: Mapped[list[InvoiceLineItem]] = relationship(
        order_by="InvoiceLineItem.position", lazy="selectin", cascade="all, delete-orphan"
    )


class InvoiceLineItem(Base):
    __tablename__ = "invoice_line_items"
    __table_args__ = (
        UniqueConstraint("invoice_id", "position"),
        CheckConstraint("quantity > 0 AND unit_amount >= 0", name="amounts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class PaymentAttempt(Base):
    """The intent row committed before any call that can move money (rule 1).

    ``idempotency_key`` is derived from ``id`` (``idempotency_key_for(kind, id)``), so a
    retry by any process reuses it. ``next_check_at``/``check_step`` schedule the
    reconciler; ``request_json`` keeps what to resend (token ids, never card data).
    """

    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint(_in("state", list(AttemptState)), name="state"),
        CheckConstraint(_in("kind", list(AttemptKind)), name="kind"),
        CheckConstraint("amount > 0 AND tip_amount >= 0", name="amounts"),
        Index(
            "uq_payment_attempts_open_charge_per_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=_OPEN_CHARGE,
            postgresql_where=_OPEN_CHARGE,
        ),
        Index("ix_payment_attempts_due", "next_check_at"),
        Index("ix_payment_attempts_payment", "payment_id"),
        Index("ix_payment_attempts_invoice", "invoice_id"),
        Index(
            "uq_payment_attempts_open_per_authorization",
            "authorization_id",
            unique=True,
            sqlite_where=_OPEN_ON_AUTHORIZATION,
            postgresql_where=_OPEN_ON_AUTHORIZATION,
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default=AttemptState.PENDING.value)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    #: The payment a refund / capture / void acts on (no FK: payments point back here).
    payment_id: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    tip_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: token / card_on_file / alternate_tender / terminal
    source_kind: Mapped[str] = mapped_column(String(20))
    card_on_file_id: Mapped[str | None] = mapped_column(ForeignKey("cards_on_file.id"))
    #: CARDHOLDER or MERCHANT (stored-credential initiator) when a card on file is used.
    initiator: Mapped[str | None] = mapped_column(String(10))
    request_json: Mapped[str] = mapped_column(Text, default="{}")
    clover_order_id: Mapped[str | None] = mapped_column(String(32))
    clover_charge_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    clover_refund_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: ``charge`` only: false for a pre-authorization (Clover's ``capture: false``).
    capture: Mapped[bool] = mapped_column(default=True, server_default=true())
    #: Capture / void of a pre-authorization: the authorization acted on (no FK, as
    #: ``payment_id``: the authorization points back at its attempt).
    authorization_id: Mapped[str | None] = mapped_column(String(32))
    #: Terminal sales: the externalPaymentId given to the device.
    external_payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    check_step: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None]
    alerted_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]


class Payment(Base):
    """A charge Clover made, recorded once (unique attempt, unique Clover charge id)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0 AND tip_amount >= 0", name="amounts"),
        Index("ix_payments_invoice", "invoice_id"),
        Index("uq_payments_void_attempt", "void_attempt_id", unique=True),
        Index("ix_payments_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), unique=True)
    clover_charge_id: Mapped[str] = mapped_column(String(32), unique=True)
    clover_order_id: Mapped[str | None] = mapped_column(String(32))
    #: Applied to the invoice (tip excluded) = captured amount for a captured charge.
    amount: Mapped[int] = mapped_column(BigInteger)
    tip_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    tender: Mapped[str] = mapped_column(String(20), default="card")
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when Clover voided the payment (a terminal void): it no longer counts
    #: towards its invoice; the void's attempt is ``void_attempt_id``.
    voided_at: Mapped[datetime | None]
    void_attempt_id: Mapped[str | None] = mapped_column(String(32))


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_refunds_payment", "payment_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), unique=True)
    clover_refund_id: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
