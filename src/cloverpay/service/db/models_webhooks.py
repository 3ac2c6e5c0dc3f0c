"""Per-merchant webhook secrets (the inbox itself is ``webhook_inbox`` in models_ops)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, utcnow

__all__ = ["MerchantWebhookSecret"]


class MerchantWebhookSecret(Base):
    """The Hosted Checkout signing secret a merchant generated in Clover's dashboard,
    Fernet-encrypted like the OAuth tokens (never stored or logged in clear)."""

    __tablename__ = "merchant_webhook_secrets"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    checkout_signing_secret_enc: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
