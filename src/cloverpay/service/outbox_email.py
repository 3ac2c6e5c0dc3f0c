"""Delivering the outbox's emails, never twice (RELIABILITY.md: "a periodic retry
re-sends a non-idempotent side effect → hundreds of emails").

A worker claims due ``channel='email'`` rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` serializes claims), then:

* **captured** (no SMTP configured, as in ``cloverpay up``): in the claiming
  transaction it writes the :class:`EmailDelivery` record and marks the row ``sent``;
* **SMTP**: it marks the row ``sending`` and commits *before* talking to the server,
  sends, then writes the delivery record and ``sent`` in one transaction. A refusal
  before the server accepted the message puts the row back to ``pending`` with a
  backoff (``failed`` after :data:`MAX_ATTEMPTS`). A row still ``sending`` after its
  lease (a crash mid-send) becomes ``unknown`` and is never re-sent automatically:
  a person decides from the dashboard.

``email_deliveries.outbox_id`` is unique, so even a bug cannot record a second delivery.
The ``Message-ID`` is derived from the outbox row, so receivers can dedupe too.

The message is built from the row's payload (``services/emails``): ``text`` becomes the
``text/plain`` part and, when the payload has ``html``, the ``text/html`` alternative
follows it (``multipart/alternative``, plain first: clients show the last part they can).
A row queued before HTML emails has ``text`` only and goes out as a plain ``text/plain``
message, as it always did. The delivery record keeps the plain-text part.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select, update

from cloverpay.service.db import OutboxEvent
from cloverpay.service.db.models_web import EmailDelivery
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.web._settings import WebSettings

__all__ = [
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "Mailer",
    "SmtpMailer",
    "deliver_due",
    "run_worker",
    "sweep_stuck",
]

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)
BACKOFF_S = (30, 120, 600, 3600)


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, web: WebSettings) -> None:
        if not web.smtp_host:
            raise ValueError("smtp_host is not set")
        self.web = web

    def send(self, message: EmailMessage) -> None:
        web = self.web
        assert web.smtp_host is not None
        with smtplib.SMTP(web.smtp_host, web.smtp_port, timeout=30) as smtp:
            if web.smtp_starttls:
                smtp.starttls()
            if web.smtp_username and web.smtp_password is not None:
                smtp.login(web.smtp_username, web.smtp_password.get_secret_value())
            smtp.send_message(message)

    def __repr__(self) -> str:
        return f"SmtpMailer(host={self.web.smtp_host!r})"


@dataclass
class DeliveryReport:
    sent: int = 0
    captured: int = 0
    retried: int = 0
    failed: int = 0


def _message(web: WebSettings, row: OutboxEvent) -> EmailMessage:
    payload = json.loads(row.payload_json)
    msg = EmailMessage()
    msg["From"] = web.email_from
    msg["To"] = payload["to"]
    msg["Subject"] = payload["subject"]
    domain = web.email_from.rpartition("@")[2] or "cloverpay.invalid"
    tag = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:12]
    msg["Message-ID"] = f"<outbox-{row.id}.{tag}@{domain}>"
    msg.set_content(payload["text"])
    html = payload.get("html")
    if isinstance(html, str) and html:
        msg.add_alternative(html, subtype="html")
    return msg


def _plain_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def _claim(ctx: ServiceContext, *, limit: int) -> list[int]:
    now = ctx.now()
    with ctx.sessions.begin() as s:
        stmt = (
            select(OutboxEvent)
            .where(
                OutboxEvent.channel == "email",
                OutboxEvent.status == "pending",
                OutboxEvent.next_attempt_at <= now,
            )
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if ctx.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(s.scalars(stmt))
        for row in rows:
            row.status = "sending"
            row.claimed_until = now + LEASE
            row.attempts += 1
        return [r.id for r in rows]


def _record(ctx: ServiceContext, row_id: int, msg: EmailMessage, transport: str) -> bool:
    with ctx.sessions.begin() as s:
        row = s.get_one(OutboxEvent, row_id)
        if row.status != "sending":
            return False
        s.add(
            EmailDelivery(
                outbox_id=row.id,
                merchant_id=row.merchant_id,
                transport=transport,
                message_id=str(msg["Message-ID"]),
                recipient=str(msg["To"]),
                subject=str(msg["Subject"]),
                body_text=_plain_text(msg),
                sent_at=ctx.now(),
            )
        )
        row.status = "sent"
        row.sent_at = ctx.now()
        row.claimed_until = None
        return True


def _give_back(ctx: ServiceContext, row_id: int, error: str, report: DeliveryReport) -> None:
    with ctx.sessions.begin() as s:
        row = s.get_one(OutboxEvent, row_id)
        row.last_error = error[:500]
        row.claimed_until = None
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            report.failed += 1
        else:
            row.status = "pending"
            delay = BACKOFF_S[min(row.attempts - 1, len(BACKOFF_S) - 1)]
            row.next_attempt_at = ctx.now() + timedelta(seconds=delay)
            report.retried += 1


def deliver_due(
    ctx: ServiceContext, web: WebSettings, *, mailer: Mailer | None = None, limit: int = 50
) -> DeliveryReport:
    """One pass of the worker. Without ``mailer`` and without SMTP settings, captures."""
    if mailer is None and web.smtp_host:
        mailer = SmtpMailer(web)
    report = DeliveryReport()
    sweep_stuck(ctx)
    for row_id in _claim(ctx, limit=limit):
        with ctx.sessions() as s:
            msg = _message(web, s.get_one(OutboxEvent, row_id))
        if mailer is None:
            if _record(ctx, row_id, msg, "captured"):
                report.captured += 1
            continue
        try:
            mailer.send(msg)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            _give_back(ctx, row_id, f"refused: {exc}", report)
            continue
        except (smtplib.SMTPConnectError, ConnectionRefusedError) as exc:
            _give_back(ctx, row_id, f"could not connect: {exc}", report)
            continue
        except Exception as exc:  # the server may have accepted it: never re-send blindly
            with ctx.sessions.begin() as s:
                row = s.get_one(OutboxEvent, row_id)
                row.status = "unknown"
                row.last_error = f"outcome unknown: {type(exc).__name__}: {exc}"[:500]
            continue
        if _record(ctx, row_id, msg, "smtp"):
            report.sent += 1
    return report


def sweep_stuck(ctx: ServiceContext) -> int:
    """Rows left ``sending`` past their lease (a crash mid-send) become ``unknown``."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(OutboxEvent)
            .where(
                OutboxEvent.channel == "email",
                OutboxEvent.status == "sending",
                OutboxEvent.claimed_until < now,
            )
            .values(status="unknown", last_error="lease expired while sending; not re-sent")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_worker(
    ctx: ServiceContext,
    web: WebSettings,
    stop: threading.Event,
    *,
    interval_s: float = 1.0,
    mailer: Mailer | None = None,
) -> None:
    """Deliver due emails every ``interval_s`` until ``stop`` is set (run it in a thread;
    several processes may run it against one database)."""
    log = logging.getLogger("cloverpay.outbox")
    while not stop.is_set():
        try:
            deliver_due(ctx, web, mailer=mailer)
        except Exception:  # the rows stay where they are for the next pass
            log.exception("email delivery pass failed")
        stop.wait(interval_s)
