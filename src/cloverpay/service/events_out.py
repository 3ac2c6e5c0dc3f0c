"""Events out: the outbox's business events (``invoice.paid``, ``payment.refunded``, …)
as signed webhooks to a merchant's CRM, with retries.

Off unless the merchant configured it (``merchant_event_settings``: URL, signing secret
stored Fernet-encrypted, enabled, optional topic list). Rows of merchants without it,
or of topics they did not choose, become ``skipped`` (never sent later).

A request::

    POST <url>
    Content-Type: application/json
    Cloverpay-Event-Id: evt_42            (stable across retries: dedupe on it)
    Cloverpay-Signature: t=1700000000,v1=5257a869e7ec…(64 hex digits)

    {"created":1699999990,"data":{...},"id":"evt_42","merchant_id":"...","type":"invoice.paid"}

``v1`` is the hex HMAC-SHA256, keyed with the signing secret (the whole ``whsec_…``
string, UTF-8), of ``"{t}.{raw body}"``; ``t`` is the Unix time of the attempt (a retry
is signed again with a new ``t``). Receivers recompute it over the raw body, compare in
constant time, and refuse a ``t`` older than a few minutes (:func:`verify_signature`
does all three). This is Stripe's scheme, so Stripe-style verifiers fit with the header
name changed.

Delivery is at least once: an answer 2xx marks the row ``sent`` (never sent again);
anything else (non-2xx, timeout, refused connection) is recorded in
``event_deliveries`` and retried after :data:`BACKOFF_S` (about three days in all), then
the row is ``failed``. A worker that dies mid-delivery leaves its claim to expire and
the event is sent again, so receivers should dedupe on the event id. The URL must reach
public addresses only (checked when saved and before each delivery, unless
``Settings.events_out_allow_networks`` allows the network:
:mod:`cloverpay.service.events_destination`). Rows are claimed
with ``services.outbox.claim_outbox`` (``SKIP LOCKED`` on PostgreSQL), in batches small
enough to finish within their lease.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from cloverpay.service.db import EventDelivery, MerchantEventSettings, OutboxEvent
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.events_destination import (
    Destination,
    DestinationRefused,
    allowed_networks,
    check_destination,
)
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.outbox import ClaimedEvent, claim_outbox
from cloverpay.service.services.records import add_audit

__all__ = [
    "BACKOFF_S",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "EventsReport",
    "SignatureError",
    "configure_events",
    "deliver_events",
    "generate_secret",
    "run_worker",
    "sign",
    "verify_signature",
]

log = logging.getLogger("cloverpay.events")

SIGNATURE_HEADER = "Cloverpay-Signature"
EVENT_ID_HEADER = "Cloverpay-Event-Id"
CHANNEL = "webhook"
#: Waits after the 1st, 2nd, … failed attempt; after the last one the row is ``failed``.
BACKOFF_S: tuple[int, ...] = (30, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 86400)
MAX_ATTEMPTS = len(BACKOFF_S) + 1
TIMEOUT_S = 10.0
BATCH = 10


class SignatureError(ValueError):
    """The signature header is missing, malformed, wrong, or too old."""


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Cloverpay-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> int:
    """Check a ``Cloverpay-Signature`` header over the raw ``body``; returns its ``t``.
    Several ``v1`` values may be present (one must match)."""
    if not header:
        raise SignatureError("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature header has no t= or no v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance")
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match")
    return timestamp


def _check_url(ctx: ServiceContext, url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname  # raises on a bad port or bracket
        _ = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"url is not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest("url must be an http(s) URL", field="url")
    if ctx.settings.env == "production" and parts.scheme != "https":
        raise InvalidRequest("url must be https in production", field="url")
    try:
        _destination(ctx, url)
    except DestinationRefused as exc:
        raise InvalidRequest(str(exc), field="url", code="url_not_allowed") from None
    return url


def _destination(ctx: ServiceContext, url: str) -> Destination:
    """``url`` checked against the public-address rule (:mod:`events_destination`)."""
    allow = allowed_networks(ctx.settings.events_out_allow_networks)
    return check_destination(url, allow=allow)


def configure_events(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    url: str,
    enabled: bool = True,
    topics: list[str] | None = None,
    signing_secret: str | None = None,
    rotate_secret: bool = False,
    actor: str,
) -> str | None:
    """Create or change a merchant's events-out settings (one transaction, with its
    audit row). A secret is generated when none is given and none is stored yet, or
    when ``rotate_secret``; the generated secret is returned (show it once), else None."""
    url = _check_url(ctx, url.strip())
    if signing_secret is not None and len(signing_secret) < 24:
        raise InvalidRequest("signing_secret must be at least 24 characters", field="secret")
    cleaned = sorted({t.strip() for t in topics or [] if t.strip()})
    with ctx.sessions.begin() as s:
        row = s.get(MerchantEventSettings, merchant_id, with_for_update=True)
        generated = None
        if signing_secret is None and (row is None or rotate_secret):
            signing_secret = generated = generate_secret()
        if row is None:
            assert signing_secret is not None
            row = MerchantEventSettings(
                merchant_id=merchant_id,
                url=url,
                signing_secret_enc=ctx.cipher.encrypt(signing_secret),
            )
            s.add(row)
        elif signing_secret is not None:
            row.signing_secret_enc = ctx.cipher.encrypt(signing_secret)
        row.url = url
        row.enabled = enabled
        row.topics = ",".join(cleaned) or None
        row.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="settings.events_out",
            entity_type="merchant",
            entity_id=merchant_id,
            to_state="enabled" if enabled else "disabled",
            data={"url": url, "topics": row.topics, "secret_changed": signing_secret is not None},
        )
    return generated


@dataclass
class EventsReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


def _unix(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())


def _body(ev: ClaimedEvent, created: datetime) -> bytes:
    envelope = {
        "id": f"evt_{ev.id}",
        "type": ev.topic,
        "created": _unix(created),
        "merchant_id": ev.merchant_id,
        "data": json.loads(ev.payload_json),
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def _skip(ctx: ServiceContext, event_id: int, reason: str) -> None:
    with ctx.sessions.begin() as s:
        row = s.get_one(OutboxEvent, event_id, with_for_update=True)
        if row.status == "pending":
            row.status = "skipped"
            row.last_error = reason
            row.claimed_until = None


def _finish(
    ctx: ServiceContext,
    ev: ClaimedEvent,
    url: str,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    report: EventsReport,
) -> None:
    ok = status_code is not None and 200 <= status_code < 300
    now = ctx.now()
    with ctx.sessions.begin() as s:
        s.add(
            EventDelivery(
                outbox_id=ev.id,
                merchant_id=ev.merchant_id,
                attempt=ev.attempts,
                url=url,
                status_code=status_code,
                succeeded=ok,
                error=error[:1000] if error else None,
                duration_ms=duration_ms,
                created_at=now,
            )
        )
        row = s.get_one(OutboxEvent, ev.id, with_for_update=True)
        row.claimed_until = None
        if row.status != "pending":  # delivered meanwhile (a lease ran out): keep it
            return
        if ok:
            row.status = "sent"
            row.sent_at = now
            row.last_error = None
            report.delivered += 1
            return
        row.last_error = (error or f"HTTP {status_code}")[:2000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            report.failed += 1
            log.warning("event %s to %s failed for good: %s", ev.id, url, row.last_error)
        else:
            wait = BACKOFF_S[min(row.attempts - 1, len(BACKOFF_S) - 1)]
            row.next_attempt_at = now + timedelta(seconds=wait)
            report.retried += 1


def deliver_events(
    ctx: ServiceContext,
    *,
    http: httpx.Client | None = None,
    limit: int = BATCH,
    timeout_s: float = TIMEOUT_S,
) -> EventsReport:
    """One pass: claim due events and deliver each once (see the module docstring)."""
    report = EventsReport()
    lease_s = int(limit * (timeout_s + 1) + 30)  # the batch ends before its lease does
    events = claim_outbox(ctx, channel=CHANNEL, limit=limit, lease_s=lease_s)
    if not events:
        return report
    merchant_ids = {e.merchant_id for e in events if e.merchant_id}
    with ctx.sessions() as s:
        configs = {
            c.merchant_id: c
            for c in s.scalars(
                select(MerchantEventSettings).where(
                    MerchantEventSettings.merchant_id.in_(merchant_ids)
                )
            )
        }
        created_stmt = select(OutboxEvent.id, OutboxEvent.created_at).where(
            OutboxEvent.id.in_([e.id for e in events])
        )
        created = {event_id: at for event_id, at in s.execute(created_stmt)}
    own = http is None
    client = http or httpx.Client(timeout=timeout_s, follow_redirects=False)
    try:
        for ev in events:
            cfg = configs.get(ev.merchant_id) if ev.merchant_id else None
            if cfg is None or not cfg.enabled:
                _skip(ctx, ev.id, "events out not enabled for this merchant")
                report.skipped += 1
                continue
            if not cfg.wants(ev.topic):
                _skip(ctx, ev.id, f"topic {ev.topic} not chosen")
                report.skipped += 1
                continue
            _send(ctx, client, cfg, ev, _body(ev, created[ev.id]), timeout_s, report)
    finally:
        if own:
            client.close()
    return report


def _send(
    ctx: ServiceContext,
    client: httpx.Client,
    cfg: MerchantEventSettings,
    ev: ClaimedEvent,
    body: bytes,
    timeout_s: float,
    report: EventsReport,
) -> None:
    secret = ctx.cipher.decrypt(cfg.signing_secret_enc)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cloverpay-events/1",
        EVENT_ID_HEADER: f"evt_{ev.id}",
        SIGNATURE_HEADER: sign(secret, _unix(ctx.now()), body),
    }
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        # checked again now (DNS may answer otherwise than when the URL was saved), and
        # sent to the address checked
        url, host, extensions = _destination(ctx, cfg.url).request_args()
        response = client.post(
            url,
            content=body,
            headers={**headers, **host},
            timeout=timeout_s,
            extensions=extensions,
        )
        status_code = response.status_code
        if not response.is_success:
            # The status only: the body of whatever the URL reaches is not shown back
            # (a merchant could point the URL at an internal service).
            error = f"HTTP {status_code}"
    except DestinationRefused as exc:
        error = f"not sent: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    _finish(
        ctx,
        ev,
        cfg.url,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        report=report,
    )


def run_worker(
    ctx: ServiceContext,
    stop: threading.Event,
    *,
    interval_s: float = 1.0,
    http: httpx.Client | None = None,
) -> None:
    """Deliver due events every ``interval_s`` until ``stop`` is set (several processes
    may run it against one database)."""
    while not stop.is_set():
        try:
            report = deliver_events(ctx, http=http)
            busy = report.delivered + report.retried + report.failed + report.skipped
        except Exception:  # rows stay claimed until their lease ends, then retried
            log.exception("events delivery pass failed")
            busy = 0
        if not busy:
            stop.wait(interval_s)
