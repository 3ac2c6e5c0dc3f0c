"""Events out: signed webhooks to a real HTTP receiver on a socket that fails a few
times and then succeeds; signatures verify, retries follow the backoff, nothing is
delivered twice after success, and the dashboard's outbox shows the delivery state."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import EventDelivery, Merchant, OutboxEvent, Payment
from cloverpay.service.events_out import (
    BACKOFF_S,
    EVENT_ID_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    SignatureError,
    configure_events,
    deliver_events,
    sign,
    verify_signature,
)
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.outbox import claim_outbox
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.records import add_outbox
from cloverpay.service.services.refunds import refund_payment

from ..conftest import Clock, assert_invariants, make_token, open_test_invoice
from .conftest import csrf_of, login


@pytest.fixture(autouse=True)
def _dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DNS in the tests: the CRM's name is public, nothing else resolves."""
    from cloverpay.service import events_destination

    def resolve(host: str, port: int) -> list[str]:
        if host == "crm.example.com":
            return ["93.184.215.14"]
        raise OSError(f"unknown host {host}")

    monkeypatch.setattr(events_destination, "resolve_host", resolve)


@dataclass
class Received:
    event_id: str
    signature: str
    body: bytes
    status: int


@dataclass
class Receiver:
    """A CRM endpoint: answers 500 to the first ``fail_first`` requests of each event."""

    fail_first: int = 2
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, event_id: str, signature: str, body: bytes) -> int:
        with self.lock:
            seen = sum(1 for r in self.received if r.event_id == event_id)
            status = 500 if seen < self.fail_first else 200
            self.received.append(Received(event_id, signature, body, status))
            return status

    def delivered(self) -> list[Received]:
        return [r for r in self.received if r.status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.answer(
                self.headers.get(EVENT_ID_HEADER, ""), self.headers.get(SIGNATURE_HEADER, ""), body
            )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/cloverpay"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _unix(clock: Clock) -> float:
    return float(clock.value.replace(tzinfo=UTC).timestamp())


def _paid_and_refunded(ctx: ServiceContext, merchant: Merchant, sandbox: Sandbox) -> None:
    invoice = open_test_invoice(ctx, merchant)
    attempt = pay_invoice(ctx, merchant.id, invoice.id, token=make_token(sandbox), actor="test")
    assert attempt.state == "succeeded"
    with ctx.sessions() as s:
        payment = s.scalars(select(Payment).where(Payment.attempt_id == attempt.id)).one()
    refund = refund_payment(ctx, merchant.id, payment.id, amount=500, actor="test")
    assert refund.state == "succeeded"


def _statuses(ctx: ServiceContext) -> dict[str, str]:
    stmt = select(OutboxEvent.topic, OutboxEvent.status).where(OutboxEvent.channel == "webhook")
    with ctx.sessions() as s:
        return {topic: status for topic, status in s.execute(stmt)}


def test_signed_events_retry_until_delivered_once(
    ctx: ServiceContext,
    merchant: Merchant,
    sandbox: Sandbox,
    clock: Clock,
    receiver: Receiver,
    app_client: TestClient,
    staff: str,
) -> None:
    secret = configure_events(ctx, merchant.id, url=receiver.url, actor="test")
    assert secret is not None
    assert secret.startswith("whsec_")
    _paid_and_refunded(ctx, merchant, sandbox)
    topics = set(_statuses(ctx))
    assert {"invoice.opened", "payment.succeeded", "invoice.paid", "payment.refunded"} <= topics
    n = len(topics)
    clock.advance(5)  # the rows were stamped by the wall clock, a little after the test's

    report = deliver_events(ctx)  # attempt 1 of each: 500
    assert (report.delivered, report.retried) == (0, n)
    assert deliver_events(ctx).retried == 0  # backing off: nothing is due yet
    clock.advance(BACKOFF_S[0] + 1)
    assert deliver_events(ctx).retried == n  # attempt 2: 500 again
    clock.advance(BACKOFF_S[0] + 1)
    assert deliver_events(ctx).retried == 0  # the second wait is longer
    clock.advance(BACKOFF_S[1])
    assert deliver_events(ctx).delivered == n  # attempt 3: 200
    assert set(_statuses(ctx).values()) == {"sent"}

    # Later passes (a day on) send nothing again.
    for _ in range(3):
        clock.advance(86400)
        assert deliver_events(ctx).delivered == 0
    assert len(receiver.received) == 3 * n
    delivered = receiver.delivered()
    assert sorted(r.event_id for r in delivered) == sorted({r.event_id for r in delivered})
    assert len(delivered) == n

    # Every request is signed over its exact body; each body names its event.
    for r in receiver.received:
        t = verify_signature(secret, r.signature, r.body, now=_unix(clock), tolerance_s=10**6)
        assert t > 0
        envelope = json.loads(r.body)
        assert envelope["id"] == r.event_id
        assert envelope["merchant_id"] == merchant.id
    paid = next(json.loads(r.body) for r in delivered if b'"invoice.paid"' in r.body)
    assert paid["type"] == "invoice.paid"
    assert "invoice_id" in paid["data"]
    with pytest.raises(SignatureError):
        verify_signature(
            secret, delivered[0].signature, delivered[0].body + b" ", tolerance_s=10**6
        )
    with pytest.raises(SignatureError):
        verify_signature(
            "whsec_wrong", delivered[0].signature, delivered[0].body, tolerance_s=10**6
        )

    with ctx.sessions() as s:
        attempts = list(s.scalars(select(EventDelivery)))
    assert len(attempts) == 3 * n
    assert sum(a.succeeded for a in attempts) == n

    # The dashboard's outbox shows each event's delivery state.
    login(app_client)
    page = app_client.get("/dashboard/outbox").text
    assert page.count('class="event-row"') == n
    assert "3 attempts, delivered" in page
    assert "last: 200" in page
    assert_invariants(ctx, sandbox)


def test_receiver_down_then_gives_up_after_the_schedule(
    ctx: ServiceContext, merchant: Merchant, clock: Clock, app_client: TestClient, staff: str
) -> None:
    configure_events(ctx, merchant.id, url="http://127.0.0.1:9/nothing-listens", actor="test")
    with ctx.sessions.begin() as s:
        add_outbox(
            s,
            merchant_id=merchant.id,
            topic="invoice.paid",
            dedupe_key="t:1",
            payload={"invoice_id": "x"},
            now=ctx.now(),
        )
    for wait in BACKOFF_S:
        assert deliver_events(ctx, timeout_s=2).retried == 1
        clock.advance(wait + 1)
    assert deliver_events(ctx, timeout_s=2).failed == 1
    with ctx.sessions() as s:
        row = s.scalars(select(OutboxEvent)).one()
        assert row.status == "failed"
        assert row.attempts == MAX_ATTEMPTS
        assert row.last_error
        tries = list(s.scalars(select(EventDelivery)))
    assert len(tries) == MAX_ATTEMPTS
    assert all(t.status_code is None and t.error for t in tries)
    # Staff see it failed and send it again: a fresh schedule from now.
    csrf = login(app_client)
    page = app_client.get("/dashboard/outbox").text
    assert f"/dashboard/outbox/{row.id}/retry" in page
    r = app_client.post(f"/dashboard/outbox/{row.id}/retry", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert "sent%20again" in r.headers["location"]
    assert deliver_events(ctx, timeout_s=2).retried == 1
    with ctx.sessions() as s:
        again = s.get_one(OutboxEvent, row.id)
        assert (again.status, again.attempts) == ("pending", 1)


def test_merchants_without_events_out_and_unchosen_topics_are_skipped(
    ctx: ServiceContext, merchant: Merchant, receiver: Receiver
) -> None:
    with ctx.sessions.begin() as s:
        for i, topic in enumerate(["invoice.paid", "invoice.opened"]):
            add_outbox(
                s,
                merchant_id=merchant.id,
                topic=topic,
                dedupe_key=f"t:{i}",
                payload={},
                now=ctx.now(),
            )
        add_outbox(
            s,
            merchant_id=merchant.id,
            topic="pay_link.sent",
            channel="email",
            dedupe_key="mail:1",
            payload={"to": "a@example.com", "subject": "s", "text": "t"},
            now=ctx.now(),
        )
    assert deliver_events(ctx).skipped == 2  # not configured: skipped, never sent later
    assert receiver.received == []
    with ctx.sessions() as s:
        email = s.scalars(select(OutboxEvent).where(OutboxEvent.channel == "email")).one()
    assert email.status == "pending"  # the email worker's row, untouched
    assert email.attempts == 0
    assert claim_outbox(ctx) == []  # webhook channel only: the email row is not claimed

    configure_events(ctx, merchant.id, url=receiver.url, topics=["invoice.paid"], actor="t")
    with ctx.sessions.begin() as s:
        for i, topic in enumerate(["invoice.paid", "invoice.opened"]):
            add_outbox(
                s,
                merchant_id=merchant.id,
                topic=topic,
                dedupe_key=f"u:{i}",
                payload={},
                now=ctx.now(),
            )
    report = deliver_events(ctx)
    assert (report.skipped, report.retried) == (1, 1)


def test_dashboard_settings_show_a_new_secret_once(
    ctx: ServiceContext, merchant: Merchant, app_client: TestClient, staff: str
) -> None:
    csrf = login(app_client)
    r = app_client.post(
        "/dashboard/settings/events",
        data={"csrf_token": csrf, "url": "https://crm.example.com/hooks", "enabled": "1"},
    )
    assert r.status_code == 200
    assert 'id="new-secret">whsec_' in r.text
    page = app_client.get("/dashboard/settings").text
    assert "whsec_" not in page
    assert "https://crm.example.com/hooks" in page
    r = app_client.post(
        "/dashboard/settings/events",
        data={"csrf_token": csrf_of(page), "url": "ftp://crm.example.com"},
    )
    assert r.status_code == 303
    assert "http" in r.headers["location"]


def test_signature_format_is_stripe_like() -> None:
    header = sign("whsec_test", 1700000000, b'{"a":1}')
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1.startswith("v1=")
    assert len(v1) == 3 + 64
    assert verify_signature("whsec_test", header, b'{"a":1}', now=1700000100) == 1700000000
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature("whsec_test", header, b'{"a":1}', now=1700000000 + 301)
    with pytest.raises(SignatureError):
        verify_signature("whsec_test", "v1=abc", b"{}")
    # Several v1 values (a secret being rotated): one match is enough.
    both = f"{header},v1={'0' * 64}"
    assert verify_signature("whsec_test", both, b'{"a":1}', now=1700000000) == 1700000000


def test_rest_event_settings_take_a_write_only_secret(
    ctx: ServiceContext, merchant: Merchant, app_client: TestClient
) -> None:
    from cloverpay.service.db import MerchantEventSettings
    from cloverpay.service.services.merchants import create_api_key

    auth = {"Authorization": f"Bearer {create_api_key(ctx, merchant.id).secret}"}
    assert app_client.get("/v1/event_settings", headers=auth).status_code == 404
    url = "https://crm.example.com/hooks"
    first = app_client.post("/v1/event_settings", headers=auth, json={"url": url})
    assert first.status_code == 400
    assert first.json()["error"]["field"] == "signing_secret"
    secret = "crm-chosen-secret-0123456789abcdef"
    body = {"url": url, "topics": ["invoice.paid"], "signing_secret": secret}
    r = app_client.post("/v1/event_settings", headers=auth, json=body)
    assert r.status_code == 200, r.text
    assert secret not in r.text
    assert r.json() == {**app_client.get("/v1/event_settings", headers=auth).json()}
    assert r.json()["topics"] == ["invoice.paid"]
    # Later changes may leave the secret out; it is kept, encrypted.
    r = app_client.post("/v1/event_settings", headers=auth, json={"url": url, "enabled": False})
    assert r.json()["enabled"] is False
    with ctx.sessions() as s:
        row = s.get_one(MerchantEventSettings, merchant.id)
    assert secret not in row.signing_secret_enc
    assert ctx.cipher.decrypt(row.signing_secret_enc) == secret
    bad = app_client.post("/v1/event_settings", headers=auth, json={"url": "ftp://x"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "url"
    for broken in ("http://[", "https://crm.example.com:99999/x", "https://:80/x"):
        bad = app_client.post("/v1/event_settings", headers=auth, json={"url": broken})
        assert bad.status_code == 400, (broken, bad.text)
        assert bad.json()["error"]["field"] == "url"
