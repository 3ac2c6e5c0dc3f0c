"""Card terminals and the sales run on them.

``terminals``: one Clover device of a merchant (reached on the LAN or through Clover's
cloud), its pairing token encrypted at rest with the service's cipher, and a lease:
the one service process that owns the device's connection at a time
(``lease_owner`` until ``lease_until``; taken and renewed by a conditional UPDATE,
never read-then-write, see :mod:`cloverpay.service.services.terminals`).

``terminal_sales``: the live side of a terminal sale, beside its intent row (a
``payment_attempts`` row with ``source_kind='terminal'``). ``stage`` says how far the
sale got: ``queued`` (committed, not sent), ``sending`` (claimed by the lease owner: it
may have left us, so it is never sent again), ``done``, ``unknown`` (the answer was
lost and the lookups proved nothing), ``expired`` (never sent: nobody owned the
terminal in time). Only the move ``queued -> sending`` may lead to a send, and it is a
conditional UPDATE, so a sale is sent at most once whatever runs where.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, new_id, utcnow

__all__ = ["SALE_STAGES", "TERMINAL_KINDS", "Terminal", "TerminalSale"]

TERMINAL_KINDS = ("lan", "cloud")
SALE_STAGES = ("queued", "sending", "done", "unknown", "expired")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Terminal(Base):
    __tablename__ = "terminals"
    __table_args__ = (
        UniqueConstraint("merchant_id", "name"),
        CheckConstraint(_in("connection_kind", TERMINAL_KINDS), name="connection_kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: ``lan`` (Secure Network Pay Display, ``wss://device:12345/remote_pay``) or ``cloud``
    connection_kind: Mapped[str] = mapped_column(String(10), default="lan")
    #: The device's websocket URL (LAN) or Clover's server (cloud).
    url: Mapped[str] = mapped_column(String(300))
    serial: Mapped[str | None] = mapped_column(String(64))
    #: Clover's device id (cloud; also filled from discovery when known).
    device_id: Mapped[str | None] = mapped_column(String(64))
    #: Hex SHA-256 of the device certificate to pin (LAN, ``wss://``).
    pinned_sha256: Mapped[str | None] = mapped_column(String(64))
    #: The pairing token (Fernet, the service's cipher). Never logged.
    auth_token_enc: Mapped[str | None] = mapped_column(Text)
    #: new / pairing / ready / disconnected / disabled (what the owner last saw)
    status: Mapped[str] = mapped_column(String(20), default="new")
    #: The code to type on the device while pairing (shown in the dashboard).
    pairing_code: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The service process owning the connection (see the module docstring).
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    lease_renewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TerminalSale(Base):
    __tablename__ = "terminal_sales"
    __table_args__ = (
        CheckConstraint(_in("stage", SALE_STAGES), name="stage"),
        Index("ix_terminal_sales_terminal_stage", "terminal_id", "stage"),
    )

    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    stage: Mapped[str] = mapped_column(String(10), default="queued")
    #: The process that claimed the send (``queued -> sending``).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    #: The device's screen as last reported (UI_STATE), for the dashboard.
    ui_state: Mapped[str | None] = mapped_column(String(60))
    ui_text: Mapped[str | None] = mapped_column(String(300))
    #: What the device or the recovery said last (a reason, never card data).
    note: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
