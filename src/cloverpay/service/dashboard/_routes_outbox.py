"""Dashboard pages of the outbox: emails to payers and events to the CRM, one email in
full, and the buttons that deliver due emails and send a failed event again.

An email's page shows its plain-text part as text, and its HTML part (when the email has
one; rows queued before HTML emails have none) in an ``<iframe sandbox>`` whose page,
``/dashboard/outbox/{id}/html``, is served with ``Content-Security-Policy: sandbox`` and
``default-src 'none'`` (inline styles only): the HTML is escaped where it was rendered,
and even if it were not, no script in it could run, no form post, nothing load, and it
would run in an opaque origin, never the dashboard's.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, Web, page
from cloverpay.service.dashboard._routes import back
from cloverpay.service.db import EventDelivery, OutboxEvent
from cloverpay.service.db.models_web import EmailDelivery
from cloverpay.service.outbox_email import deliver_due
from cloverpay.service.web._security_headers import csp_header

__all__ = ["EMAIL_PREVIEW_CSP", "router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)

#: The policy of an email's HTML part shown in the dashboard: a sandbox (no script, no
#: forms, an opaque origin), nothing fetched, inline styles (emails have no other),
#: framed only by the dashboard itself.
EMAIL_PREVIEW_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)


@router.get("/outbox", response_class=HTMLResponse)
def outbox(request: Request, ctx: Ctx, staff: Staff) -> Response:
    with ctx.sessions() as s:
        events = list(
            s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.merchant_id == staff.merchant_id)
                .order_by(OutboxEvent.id.desc())
                .limit(200)
            )
        )
        deliveries = {
            d.outbox_id: d
            for d in s.scalars(
                select(EmailDelivery).where(EmailDelivery.merchant_id == staff.merchant_id)
            )
        }
        attempts = _event_attempts(s, [e.id for e in events if e.channel != "email"])
    emails = [e for e in events if e.channel == "email"]
    others = [e for e in events if e.channel != "email"]
    return page(
        request,
        "outbox.html",
        staff,
        {"emails": emails, "others": others, "deliveries": deliveries, "attempts": attempts},
    )


def _event_attempts(s: Session, outbox_ids: list[int]) -> dict[int, list[EventDelivery]]:
    """Each event's delivery attempts to the CRM, newest first."""
    out: dict[int, list[EventDelivery]] = {}
    if not outbox_ids:
        return out
    rows = s.scalars(
        select(EventDelivery)
        .where(EventDelivery.outbox_id.in_(outbox_ids))
        .order_by(EventDelivery.id.desc())
    )
    for row in rows:
        out.setdefault(row.outbox_id, []).append(row)
    return out


def _email(
    ctx: Ctx, staff: Staff, event_id: int
) -> tuple[OutboxEvent, dict[str, Any], EmailDelivery | None] | None:
    """The merchant's email ``event_id``, its payload and its delivery record."""
    with ctx.sessions() as s:
        row = s.get(OutboxEvent, event_id)
        if row is None or row.merchant_id != staff.merchant_id or row.channel != "email":
            return None
        delivery = s.scalar(select(EmailDelivery).where(EmailDelivery.outbox_id == row.id))
    payload = json.loads(row.payload_json)
    return row, payload if isinstance(payload, dict) else {}, delivery


@router.get("/outbox/{event_id}", response_class=HTMLResponse)
def outbox_email(request: Request, ctx: Ctx, staff: Staff, event_id: int) -> Response:
    found = _email(ctx, staff, event_id)
    if found is None:
        return page(request, "not_found.html", staff, {"what": "email"}, status=404)
    row, payload, delivery = found
    has_html = isinstance(payload.get("html"), str) and bool(payload["html"])
    response = page(
        request,
        "outbox_email.html",
        staff,
        {"e": row, "p": payload, "d": delivery, "has_html": has_html},
    )
    if has_html:  # the preview frame is our own page, under EMAIL_PREVIEW_CSP
        response.headers["Content-Security-Policy"] = csp_header(
            clover_origin=None, frame_sources=("'self'",)
        )
    return response


@router.get("/outbox/{event_id}/html")
def outbox_email_html(ctx: Ctx, staff: Staff, event_id: int) -> Response:
    found = _email(ctx, staff, event_id)
    html = found[1].get("html") if found is not None else None
    if not isinstance(html, str) or not html:
        return Response("No HTML part.", status_code=404, media_type="text/plain")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": EMAIL_PREVIEW_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


@router.post("/outbox/{event_id}/retry")
def outbox_retry(ctx: Ctx, staff: Csrf, event_id: int) -> Response:
    """Send a ``failed`` CRM event again: a fresh retry schedule from now."""
    from cloverpay.service.services.records import add_audit

    with ctx.sessions.begin() as s:
        row = s.get(OutboxEvent, event_id, with_for_update=True)
        if row is None or row.merchant_id != staff.merchant_id or row.channel != "webhook":
            return back("/dashboard/outbox", err="No such event.")
        if row.status != "failed":
            return back("/dashboard/outbox", err="Only failed events can be sent again.")
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = ctx.now()
        row.claimed_until = None
        add_audit(
            s,
            merchant_id=staff.merchant_id,
            actor=staff.actor,
            action="outbox.retry",
            entity_type="outbox",
            entity_id=str(row.id),
            from_state="failed",
            to_state="pending",
        )
    return back("/dashboard/outbox", msg=f"Event evt_{event_id} will be sent again.")


@router.post("/outbox/deliver")
def outbox_deliver(ctx: Ctx, web: Web, staff: Csrf) -> Response:
    report = deliver_due(ctx, web)
    done = report.sent + report.captured
    return back("/dashboard/outbox", msg=f"{done} email(s) delivered.")
