"""Tables of the web side: staff logins, per-merchant pay settings, Hosted Checkout
sessions minted for pay links, and the delivery record of each sent email.

None of them holds money: payments, refunds and invoices stay with the core units of
work. ``email_deliveries.outbox_id`` is unique, so a message can be recorded as sent
once only (the database refuses a second delivery of the same outbox row).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, new_id, utcnow

__all__ = ["CheckoutLink", "EmailDelivery", "MerchantWebSettings", "StaffUser"]

PAY_FLOWS = ("iframe", "hosted_checkout")


class StaffUser(Base):
    """A person of the merchant's staff who logs in to the dashboard."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    #: ``scrypt$n$r$p$salt$hash`` (hashlib.scrypt); never the password.
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"StaffUser(id={self.id!r}, email={self.email!r})"


class MerchantWebSettings(Base):
    """How a merchant's pay links behave (our page with Clover's iframe, or a Clover
    Hosted Checkout session minted when the link is opened), the fee rate of the
    reports, and whether payers get receipts by email."""

    __tablename__ = "merchant_web_settings"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    pay_flow: Mapped[str] = mapped_column(String(20), default="iframe")
    #: The merchant's card processing rate, for the fee estimate of the reports
    #: (basis points of amount + tip, plus a fixed amount per card payment).
    fee_rate_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fee_fixed_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Email a receipt to the invoice's customer for each payment and refund (on unless
    #: the merchant turns it off; no row = on).
    receipts_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckoutLink(Base):
    """A Hosted Checkout session minted for an invoice's pay link. An unexpired one is
    reused, so opening a link twice never gives the payer two sessions to pay."""

    __tablename__ = "checkout_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    checkout_session_id: Mapped[str] = mapped_column(String(64), unique=True)
    href: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailDelivery(Base):
    """The record that an outbox email was handed to SMTP (or captured, without SMTP)."""

    __tablename__ = "email_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    transport: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
