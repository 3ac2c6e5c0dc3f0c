"""Email delivery from the outbox: captured without SMTP, never sent twice, retried
only when the server refused before accepting, left for a person when unsure."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage

from sqlalchemy import select

from cloverpay.service.db import Merchant, OutboxEvent
from cloverpay.service.outbox_email import MAX_ATTEMPTS, deliver_due, run_worker, sweep_stuck
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.records import add_outbox
from cloverpay.service.web import EmailDelivery, WebSettings


class RecordingMailer:
    """Stands in for the SMTP server: records messages, or raises what it is told."""

    def __init__(self, fail_with: list[BaseException] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.fail_with = list(fail_with or [])
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        with self.lock:
            if self.fail_with:
                raise self.fail_with.pop(0)
            self.sent.append(message)


def _enqueue(ctx: ServiceContext, merchant: Merchant, n: int = 1) -> list[int]:
    ids = []
    with ctx.sessions.begin() as s:
        for i in range(n):
            row_id = add_outbox(
                s,
                merchant_id=merchant.id,
                topic="email.pay_link",
                channel="email",
                dedupe_key=f"test:{i}",
                payload={"to": f"c{i}@example.com", "subject": f"Invoice {i}", "text": "Pay"},
                now=ctx.now(),
            )
            ids.append(row_id)
    return ids


def _rows(ctx: ServiceContext) -> list[OutboxEvent]:
    with ctx.sessions() as s:
        return list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def _deliveries(ctx: ServiceContext) -> list[EmailDelivery]:
    with ctx.sessions() as s:
        return list(s.scalars(select(EmailDelivery)))


def test_captured_without_smtp_and_never_twice(ctx: ServiceContext, merchant: Merchant) -> None:
    web = WebSettings()
    _enqueue(ctx, merchant, 3)
    assert deliver_due(ctx, web).captured == 3
    for _ in range(3):  # periodic passes
        assert deliver_due(ctx, web).captured == 0
    assert [r.status for r in _rows(ctx)] == ["sent"] * 3
    deliveries = _deliveries(ctx)
    assert sorted(d.recipient for d in deliveries) == [f"c{i}@example.com" for i in range(3)]
    assert {d.transport for d in deliveries} == {"captured"}


def test_smtp_sent_once_across_passes(ctx: ServiceContext, merchant: Merchant) -> None:
    mailer = RecordingMailer()
    _enqueue(ctx, merchant, 2)
    for _ in range(4):
        deliver_due(ctx, WebSettings(), mailer=mailer)
    assert len(mailer.sent) == 2
    assert len({m["Message-ID"] for m in mailer.sent}) == 2
    assert [d.transport for d in _deliveries(ctx)] == ["smtp", "smtp"]


def test_refused_is_retried_with_backoff_then_sent_once(
    ctx: ServiceContext, merchant: Merchant, clock: object
) -> None:
    mailer = RecordingMailer([smtplib.SMTPSenderRefused(451, b"try later", "billing@x")])
    _enqueue(ctx, merchant)
    report = deliver_due(ctx, WebSettings(), mailer=mailer)
    assert report.retried == 1
    assert _rows(ctx)[0].status == "pending"
    assert deliver_due(ctx, WebSettings(), mailer=mailer).sent == 0  # not due yet
    clock.advance(31)  # type: ignore[attr-defined]
    assert deliver_due(ctx, WebSettings(), mailer=mailer).sent == 1
    clock.advance(3600)  # type: ignore[attr-defined]
    deliver_due(ctx, WebSettings(), mailer=mailer)
    assert len(mailer.sent) == 1
    assert len(_deliveries(ctx)) == 1


def test_refused_too_often_fails(ctx: ServiceContext, merchant: Merchant, clock: object) -> None:
    refusals: list[BaseException] = [
        smtplib.SMTPRecipientsRefused({"c0@example.com": (550, b"no")}) for _ in range(9)
    ]
    mailer = RecordingMailer(refusals)
    _enqueue(ctx, merchant)
    for _ in range(MAX_ATTEMPTS + 2):
        deliver_due(ctx, WebSettings(), mailer=mailer)
        clock.advance(7200)  # type: ignore[attr-defined]
    row = _rows(ctx)[0]
    assert row.status == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert mailer.sent == []


def test_unknown_outcome_is_never_resent(
    ctx: ServiceContext, merchant: Merchant, clock: object
) -> None:
    # The connection dies after DATA: the server may have accepted the message.
    mailer = RecordingMailer([smtplib.SMTPServerDisconnected("connection lost")])
    _enqueue(ctx, merchant)
    deliver_due(ctx, WebSettings(), mailer=mailer)
    assert _rows(ctx)[0].status == "unknown"
    for _ in range(3):
        clock.advance(86400)  # type: ignore[attr-defined]
        deliver_due(ctx, WebSettings(), mailer=mailer)
    assert mailer.sent == []
    assert _rows(ctx)[0].status == "unknown"


def test_crash_mid_send_is_not_resent_after_the_lease(
    ctx: ServiceContext, merchant: Merchant, clock: object
) -> None:
    from cloverpay.service.outbox_email import _claim

    _enqueue(ctx, merchant)
    assert len(_claim(ctx, limit=10)) == 1  # a worker claimed it, then died
    mailer = RecordingMailer()
    deliver_due(ctx, WebSettings(), mailer=mailer)
    assert mailer.sent == []  # still leased
    clock.advance(600)  # type: ignore[attr-defined]
    assert sweep_stuck(ctx) == 1
    deliver_due(ctx, WebSettings(), mailer=mailer)
    assert mailer.sent == []
    assert _rows(ctx)[0].status == "unknown"


def test_concurrent_workers_send_each_message_once(ctx: ServiceContext, merchant: Merchant) -> None:
    mailer = RecordingMailer()
    _enqueue(ctx, merchant, 20)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                deliver_due(ctx, WebSettings(), mailer=mailer, limit=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    deliver_due(ctx, WebSettings(), mailer=mailer)
    assert errors == []
    assert sorted(str(m["To"]) for m in mailer.sent) == sorted(
        f"c{i}@example.com" for i in range(20)
    )
    assert len(_deliveries(ctx)) == 20


def test_worker_thread_delivers_then_stops(ctx: ServiceContext, merchant: Merchant) -> None:
    mailer = RecordingMailer()
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(ctx, WebSettings(), stop),
        kwargs={"interval_s": 0.05, "mailer": mailer},
    )
    worker.start()
    _enqueue(ctx, merchant, 2)
    for _ in range(200):
        if len(_deliveries(ctx)) == 2:
            break
        stop.wait(0.05)
    stop.set()
    worker.join(10)
    assert not worker.is_alive()
    assert len(mailer.sent) == 2
