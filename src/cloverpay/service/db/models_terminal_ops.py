"""Refunds and voids of terminal payments, on their way to the owning process.

``terminal_ops``: the live side of a refund or void of a payment taken on a terminal,
beside its intent row (a ``payment_attempts`` row of kind ``refund`` / ``void`` with
``source_kind='terminal'``). Any service process may commit one; only the process
holding the terminal's lease sends it, after winning ``queued -> sending`` (a
conditional UPDATE), so it leaves us at most once. ``stage``: ``queued``, ``sending``,
``done``, ``unknown`` (the answer was lost and the lookups proved nothing), ``expired``
(never sent: nobody owned the terminal in time).

``via``: how it is sent. ``device`` (the terminal's owner, Remote Pay) unless a refund
nobody took reached its expiry while no process owned the terminal: then it is sent
once through Clover's REST API instead (``rest``, claimed by the same conditional
UPDATE ``queued -> sending``, so still at most once), or when staff asked for REST
(``via='rest'`` on request: the row is inserted ``sending`` / ``rest`` in the intent's
transaction, never ``queued``, and the request sends it); see
:mod:`cloverpay.service.services.terminal_refund_rest`. Voids are device-only.

The partial unique index keeps one open void per payment (RELIABILITY rule 4).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cloverpay.service.db.base import Base, utcnow
from cloverpay.service.db.models_money import PaymentAttempt

__all__ = ["OP_KINDS", "OP_STAGES", "OP_VIAS", "TerminalOp"]

OP_KINDS = ("refund", "void")
OP_STAGES = ("queued", "sending", "done", "unknown", "expired")
OP_VIAS = ("device", "rest")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_OPEN_VOID = text("kind = 'void' AND state IN ('pending', 'unknown')")

#: one void of a payment in flight at a time, whoever asks
Index(
    "uq_payment_attempts_open_void_per_payment",
    PaymentAttempt.payment_id,
    unique=True,
    sqlite_where=_OPEN_VOID,
    postgresql_where=_OPEN_VOID,
)


class TerminalOp(Base):
    __tablename__ = "terminal_ops"
    __table_args__ = (
        CheckConstraint(_in("stage", OP_STAGES), name="stage"),
        CheckConstraint(_in("kind", OP_KINDS), name="kind"),
        CheckConstraint(_in("via", OP_VIAS), name="via"),
        Index("ix_terminal_ops_terminal_stage", "terminal_id", "stage"),
    )

    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempts.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"))
    #: ``refund`` or ``void`` (the attempt's kind, kept here for the owner's queue)
    kind: Mapped[str] = mapped_column(String(10))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    stage: Mapped[str] = mapped_column(String(10), default="queued")
    #: The process that claimed the send (``queued -> sending``).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    #: ``device`` (the owner sends it on the terminal) or ``rest`` (a refund sent
    #: through Clover's REST API once it expired with nobody owning the terminal, or
    #: at once because staff asked for it).
    via: Mapped[str] = mapped_column(String(10), default="device", server_default="device")
    ui_state: Mapped[str | None] = mapped_column(String(60))
    ui_text: Mapped[str | None] = mapped_column(String(300))
    #: What the device or the recovery said last (a reason, never card data).
    note: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
