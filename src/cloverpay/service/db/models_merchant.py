"""Merchants, their API keys, customers and cards on file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, new_id, utcnow

__all__ = ["ApiKeyRow", "CardOnFile", "Customer", "Merchant"]


class Merchant(Base):
    """A connected Clover merchant. OAuth tokens are Fernet-encrypted (``*_enc``)."""

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    clover_merchant_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: None = the settings' environment; else a base URL (e.g. a local sandbox).
    clover_base_url: Mapped[str | None] = mapped_column(String(300))
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None]
    #: sha256 of the current refresh token: the compare-and-swap of a refresh rotation
    #: (``UPDATE ... WHERE refresh_token_sha256 = :spent``; Fernet output is not comparable).
    refresh_token_sha256: Mapped[str | None] = mapped_column(String(64))
    refresh_token_expires_at: Mapped[datetime | None]
    #: The PAKMS public key (``apiAccessKey``): public, fetched once.
    pakms_key: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3), default="usd")
    #: Last invoice number handed out (incremented under the row lock).
    invoice_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Merchant(id={self.id!r}, clover_merchant_id={self.clover_merchant_id!r})"


class ApiKeyRow(Base):
    """An API key of a merchant: only its sha256 is stored, with a clear prefix to show."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("merchant_id", "clover_customer_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    clover_customer_id: Mapped[str | None] = mapped_column(String(32))
    #: The CRM's own id for this customer, if it gives one.
    external_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CardOnFile(Base):
    """A saved card: Clover's multi-pay token (or saved-card id) and what may be shown.

    Never a card number or CVV (RELIABILITY.md rule 9).
    """

    __tablename__ = "cards_on_file"
    __table_args__ = (
        UniqueConstraint("merchant_id", "clover_token"),
        Index("ix_cards_on_file_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    clover_token: Mapped[str] = mapped_column(String(64))
    #: The Clover customer the card is saved on (charged as ``source``/``customer``).
    clover_customer_id: Mapped[str | None] = mapped_column(String(32))
    brand: Mapped[str | None] = mapped_column(String(20))
    first6: Mapped[str | None] = mapped_column(String(6))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[str | None] = mapped_column(String(2))
    exp_year: Mapped[str | None] = mapped_column(String(4))
    #: True once a cardholder-initiated first charge established the credential.
    cof_initialized: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]
