"""Sending an invoice's pay link: open the invoice if it is a draft (the core's unit of
work creates the Clover order), sign a link, and enqueue the email in the outbox with
an audit row, in one transaction. ``request_key`` (from the form that asked) makes a
double-click enqueue one email only. The email is plain text and HTML
(``services/emails/pay_link.*``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import Customer, Invoice, Merchant
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.emails import email_payload, render_email
from cloverpay.service.services.invoices import invoice_totals, open_invoice
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.web._links import PayLink, sign_link
from cloverpay.service.web._settings import WebSettings, pay_link_key

__all__ = ["SentLink", "pay_link_for", "send_pay_link"]


@dataclass(frozen=True, slots=True)
class SentLink:
    url: str
    link: PayLink
    recipient: str
    queued: bool


def pay_link_for(ctx: ServiceContext, web: WebSettings, invoice_id: str) -> tuple[str, PayLink]:
    link = sign_link(
        pay_link_key(ctx.settings, web), invoice_id, now=ctx.now(), ttl_s=web.pay_link_ttl_s
    )
    return f"{web.public_url.rstrip('/')}/pay/{link.token}", link


def send_pay_link(
    ctx: ServiceContext,
    web: WebSettings,
    merchant_id: str,
    invoice_id: str,
    *,
    request_key: str,
    actor: str,
    to: str | None = None,
) -> SentLink:
    with ctx.sessions() as s:
        invoice = s.get(Invoice, invoice_id)
        if invoice is None or invoice.merchant_id != merchant_id:
            raise InvalidRequest(f"no invoice {invoice_id}", field="invoice_id")
        status = invoice.status
        customer = s.get(Customer, invoice.customer_id) if invoice.customer_id else None
    recipient = (to or (customer.email if customer else None) or "").strip()
    if "@" not in recipient:
        raise InvalidRequest("the invoice's customer has no email address", field="to")
    if status == "draft":
        open_invoice(ctx, merchant_id, invoice_id, actor=actor)
    elif status not in ("open", "partially_paid", "uncollectible"):
        raise InvalidRequest(f"a {status} invoice cannot be paid", field="invoice_id")
    url, link = pay_link_for(ctx, web, invoice_id)
    queued = True
    try:
        with ctx.sessions.begin() as s:
            invoice = s.get_one(Invoice, invoice_id)
            merchant = s.get_one(Merchant, merchant_id)
            due = invoice_totals(s, invoice).amount_due
            content = render_email(
                "pay_link",
                {
                    "customer_name": customer.name if customer and customer.name else "there",
                    "merchant_name": merchant.name,
                    "invoice_number": invoice.number,
                    "due": due,
                    "currency": invoice.currency,
                    "url": url,
                    "expires": f"{link.expires_at:%B %d, %Y}",
                },
            )
            add_outbox(
                s,
                merchant_id=merchant_id,
                topic="email.pay_link",
                channel="email",
                dedupe_key=f"email.pay_link:{invoice_id}:{request_key}"[:200],
                payload=email_payload(
                    to=recipient,
                    subject=f"Invoice {invoice.number} from {merchant.name}",
                    content=content,
                    invoice_id=invoice_id,
                ),
                now=ctx.now(),
            )
            add_audit(
                s,
                merchant_id=merchant_id,
                actor=actor,
                action="invoice.link_sent",
                entity_type="invoice",
                entity_id=invoice_id,
                data={"to": recipient, "expires_at": link.expires_at.isoformat()},
            )
    except IntegrityError:
        queued = False  # the same request was sent already
    return SentLink(url=url, link=link, recipient=recipient, queued=queued)
