"""Payer emails as they leave the service, over a real SMTP socket (``smtp_sink``):
``multipart/alternative`` with the plain-text part first and the HTML part second, the
HTML autoescaped (a customer or merchant name holding markup arrives as text), styled
inline and loading nothing, no card number beyond its last four digits, and an outbox row
queued before HTML emails (text only) still delivered, as plain text. Both back ends."""

# ruff: noqa: F811  (the smtp_sink fixture is imported by name)
from __future__ import annotations

import json
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select, update

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant, OutboxEvent, Payment
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.emails import render_email
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.receipts import PAYMENT_RECEIPT, REFUND_RECEIPT
from cloverpay.service.services.records import add_outbox
from cloverpay.service.services.refunds import refund_payment
from cloverpay.service.web import EmailDelivery, WebSettings, send_pay_link

from .conftest import make_token
from .receipt_helpers import PAYER, assert_no_card_data, customer_invoice, receipts
from .smtp_sink import SmtpSink, smtp_sink  # noqa: F401  (fixture)

HOSTILE_NAME = '<script>alert("pwned")</script> Dana'
HOSTILE_MERCHANT = "Bob's <b>Plumbing</b> & Sons"


def _name_merchant(ctx: ServiceContext, merchant: Merchant, name: str) -> None:
    with ctx.sessions.begin() as s:
        s.execute(update(Merchant).where(Merchant.id == merchant.id).values(name=name))


def parts(msg: EmailMessage) -> tuple[str, str]:
    """(text, html) of a ``multipart/alternative`` message of exactly those two parts."""
    assert msg.get_content_type() == "multipart/alternative"
    found = list(msg.iter_parts())
    assert [p.get_content_type() for p in found] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in found)
    text, html = (p.get_content() for p in found)
    assert isinstance(text, str)
    assert isinstance(html, str)
    return text, html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


BANNED_TAGS = {"script", "style", "link", "img", "iframe", "object", "embed", "form", "base"}


def assert_self_contained(html: str) -> None:
    """Nothing to run and nothing to fetch (the tags as a browser parses them); styles
    inline only."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    tags = parser.tags
    assert {t for t, _ in tags} & BANNED_TAGS == set()
    for tag, attrs in tags:
        for name, value in attrs.items():
            assert name not in ("src", "srcset", "background", "action"), (tag, name)
            assert not name.startswith("on"), (tag, name)
            assert "url(" not in value.lower()
            assert "@import" not in value.lower()
            assert "javascript:" not in value.lower()
        if tag == "a":
            assert attrs["href"].startswith(("http://", "https://")), attrs
    assert any("style" in attrs for _, attrs in tags)  # styled inline


def _deliver_one(ctx: ServiceContext, sink: SmtpSink) -> EmailMessage:
    before = len(sink.received)
    assert deliver_due(ctx, sink.web()).sent == 1
    assert deliver_due(ctx, sink.web()).sent == 0  # the next pass sends nothing again
    assert len(sink.received) == before + 1
    return sink.messages()[-1]


def test_payment_receipt_arrives_as_text_and_escaped_html(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, smtp_sink: SmtpSink
) -> None:
    _name_merchant(ctx, merchant, HOSTILE_MERCHANT)
    inv = customer_invoice(ctx, merchant, name=HOSTILE_NAME, line="<script>line()</script>")
    pay_invoice(
        ctx, merchant.id, inv.id, token=make_token(sandbox), amount=1000, tip_amount=150, actor="t"
    )
    (row,) = receipts(ctx)
    payload = json.loads(row.payload_json)
    assert set(payload) == {"to", "subject", "text", "html", "invoice_id", "payment_id"}
    msg = _deliver_one(ctx, smtp_sink)
    assert smtp_sink.received[-1].rcpt_to == [f"<{PAYER}>"]
    assert msg["To"] == PAYER
    assert msg["Subject"] == f"Receipt from {HOSTILE_MERCHANT} for invoice {inv.number}"
    text, html = parts(msg)
    # the plain-text part is the text receipt, unchanged (plain text holds no markup)
    assert text == payload["text"]
    assert f"Hello {HOSTILE_NAME}," in text
    assert "Amount paid:    $10.00" in text
    assert "Still due:      $11.60" in text
    # the HTML part: every fact of the text receipt, the names escaped
    assert html == payload["html"]
    assert_self_contained(html)
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Dana" in html
    assert "Bob&#39;s &lt;b&gt;Plumbing&lt;/b&gt; &amp; Sons" in html
    assert "<b>" not in html
    for fact in (inv.number, "$10.00", "$1.50", "$11.50", "Visa ending in 4242", "$11.60"):
        assert fact in html, fact
    # the bytes on the wire too, but for the two machine-made strings with digits in them
    boundary, message_id = msg.get_boundary(), msg["Message-ID"]
    assert boundary
    assert message_id
    wire = smtp_sink.received[-1].data.decode()
    wire = wire.replace(boundary, "<boundary>").replace(message_id, "<message-id>")
    for part in (text, html, wire):
        assert_no_card_data(part)
    with ctx.sessions() as s:
        (delivery,) = s.scalars(select(EmailDelivery)).all()
    assert delivery.transport == "smtp"
    assert delivery.body_text == text  # the record keeps the plain-text part


def test_refund_receipt_html_shows_the_refunded_totals(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, smtp_sink: SmtpSink
) -> None:
    inv = customer_invoice(ctx, merchant, name=HOSTILE_NAME)
    pay_invoice(ctx, merchant.id, inv.id, token=make_token(sandbox), actor="t")
    with ctx.sessions() as s:
        payment = s.scalars(select(Payment)).one()
    _deliver_one(ctx, smtp_sink)
    refund_payment(ctx, merchant.id, payment.id, amount=600, actor="t")
    (row,) = receipts(ctx, REFUND_RECEIPT)
    text, html = parts(_deliver_one(ctx, smtp_sink))
    assert "Refunded so far:      $6.00" in text
    assert_self_contained(html)
    assert "&lt;script&gt;" in html
    for fact in ("Amount refunded", "$6.00", "New total paid", "$15.60", "Visa ending in 4242"):
        assert fact in html, fact
    assert_no_card_data(html)
    assert json.loads(row.payload_json)["refund_id"] in html


def test_pay_link_email_has_the_link_in_both_parts(
    ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox, smtp_sink: SmtpSink
) -> None:
    web = WebSettings(public_url="http://payments.example/")
    inv = customer_invoice(ctx, merchant, name=HOSTILE_NAME)
    sent = send_pay_link(ctx, web, merchant.id, inv.id, request_key="rk", actor="staff")
    assert sent.queued
    text, html = parts(_deliver_one(ctx, smtp_sink))
    assert sent.url in text
    assert f'href="{sent.url}"' in html
    assert "$21.60" in text
    assert "$21.60" in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Dana" in html
    assert_self_contained(html)


def test_an_outbox_row_queued_before_html_emails_still_delivers_as_plain_text(
    ctx: ServiceContext, merchant: Merchant, smtp_sink: SmtpSink
) -> None:
    """The payload shape of a receipt queued by the previous release: no ``html``."""
    old = {
        "to": PAYER,
        "subject": "Receipt from Test Plumbing for invoice INV-0001",
        "text": "Hello Dana,\n\nthank you for your payment to Test Plumbing.\n",
        "invoice_id": "inv",
        "payment_id": "pay",
    }
    with ctx.sessions.begin() as s:
        for n in (1, 2):
            add_outbox(
                s,
                merchant_id=merchant.id,
                topic=PAYMENT_RECEIPT,
                channel="email",
                dedupe_key=f"{PAYMENT_RECEIPT}:old-{n}",
                payload=old,
                now=ctx.now(),
            )
    # over SMTP (the first), then captured as `cloverpay up` does (the second)
    assert deliver_due(ctx, smtp_sink.web(), limit=1).sent == 1
    assert deliver_due(ctx, WebSettings()).captured == 1
    (msg,) = smtp_sink.messages()
    assert not msg.is_multipart()
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == old["text"]
    with ctx.sessions() as s:
        rows = list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        deliveries = list(s.scalars(select(EmailDelivery).order_by(EmailDelivery.id)))
    assert [r.status for r in rows] == ["sent", "sent"]
    assert [(d.transport, d.body_text) for d in deliveries] == [
        ("smtp", old["text"]),
        ("captured", old["text"]),
    ]


# -- every template ----------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
_COMMON = {"customer_name": HOSTILE, "merchant_name": HOSTILE, "invoice_number": HOSTILE}
FACTS: dict[str, dict[str, Any]] = {
    "payment_receipt": {
        **_COMMON,
        "date": "May 01, 2025",
        "amount": 1000,
        "tip": 150,
        "currency": "usd",
        "paid_with": "VISA ending in 4242",
        "due": 500,
        "payment_id": "p1",
    },
    "refund_receipt": {
        **_COMMON,
        "date": "May 01, 2025",
        "refund_amount": 600,
        "currency": "eur",
        "paid_with": "VISA ending in 4242",
        "payment_amount": 2160,
        "tip": 100,
        "payment_date": "May 01, 2025",
        "refunded_total": 600,
        "new_total": 1660,
        "refund_id": "r1",
    },
    "void_receipt": {
        **_COMMON,
        "date": "May 01, 2025",
        "amount": 2160,
        "tip": 0,
        "currency": "usd",
        "paid_with": "MC ending in 4444",
        "card": True,
        "payment_date": "May 01, 2025",
        "due": 2160,
        "payment_id": "p1",
    },
    "pay_link": {
        **_COMMON,
        "due": 2160,
        "currency": "usd",
        "url": "https://pay.example/pay/abc?x=1&y=2",
        "expires": "May 15, 2025",
    },
    "subscription_payment_failed": {
        "customer_name": HOSTILE,
        "merchant_name": HOSTILE,
        "plan_name": HOSTILE,
        "amount": 1500,
        "currency": "usd",
        "reason": HOSTILE,
        "next_attempt": "May 03, 2025",
        "failures": 1,
        "max_failures": 4,
    },
    "subscription_deactivated": {
        "customer_name": HOSTILE,
        "merchant_name": HOSTILE,
        "plan_name": HOSTILE,
        "reason": HOSTILE,
    },
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_every_email_escapes_what_it_is_given_and_loads_nothing(name: str) -> None:
    content = render_email(name, FACTS[name])
    assert_self_contained(content.html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in (
        content.html
    )
    assert HOSTILE in content.text  # plain text is not HTML: shown as typed
    assert content.html.lstrip().startswith("<!DOCTYPE html>")
    assert content.text.strip()


def test_a_missing_fact_is_an_error_not_an_empty_line() -> None:
    facts = dict(FACTS["payment_receipt"])
    del facts["paid_with"]
    with pytest.raises(Exception, match="paid_with"):
        render_email("payment_receipt", facts)
