"""Connecting merchants through OAuth v2, and their events out to a CRM.

* ``oauth_connect_states``: one row per authorization started from
  ``GET /oauth/connect``. The primary key is the sha256 of the ``state`` we sent (the
  state itself is only in the browser's cookie and Clover's redirect), the PKCE
  verifier is Fernet-encrypted, and ``used_at`` makes a state single-use.
* ``merchant_event_settings``: where a merchant's events go (URL, signing secret
  Fernet-encrypted, on/off, optional topic filter).
* ``event_deliveries``: one row per HTTP attempt to deliver an outbox event, so the
  dashboard shows what the CRM answered each time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, utcnow

__all__ = ["EventDelivery", "MerchantEventSettings", "OAuthConnectState"]


class OAuthConnectState(Base):
    __tablename__ = "oauth_connect_states"

    #: sha256 hex of the ``state`` parameter.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_verifier_enc: Mapped[str | None] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    #: Set when staff of an existing merchant reconnect it: the callback must then
    #: come back for the same Clover merchant.
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MerchantEventSettings(Base):
    """Events out for one merchant: signed webhooks to its CRM (off unless enabled)."""

    __tablename__ = "merchant_event_settings"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    signing_secret_enc: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Comma-separated topics to send; None = every topic.
    topics: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def wants(self, topic: str) -> bool:
        if not self.topics:
            return True
        return topic in {t.strip() for t in self.topics.split(",")}

    def __repr__(self) -> str:
        return f"MerchantEventSettings(merchant_id={self.merchant_id!r}, url={self.url!r})"


class EventDelivery(Base):
    """One attempt to deliver an outbox event to a merchant's CRM."""

    __tablename__ = "event_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(500))
    #: HTTP status of the answer; None when there was none (connection refused, timeout).
    status_code: Mapped[int | None]
    succeeded: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
