"""The staff dashboard: no page without a login, CSRF on every form, and the forms
drive the core's units of work (invoice, pay link email, void, refund)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.sandbox import Sandbox
from cloverpay.service.dashboard import SESSION_COOKIE, hash_password, verify_password
from cloverpay.service.db import Customer, Invoice, OutboxEvent, Refund
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import StaffUser, WebSettings, pay_link_for

from ..conftest import make_token, open_test_invoice
from .conftest import STAFF_PASSWORD, csrf_of, login

PAGES = [
    "/dashboard/invoices",
    "/dashboard/invoices/new",
    "/dashboard/invoices/abc",
    "/dashboard/customers",
    "/dashboard/payments",
    "/dashboard/refunds",
    "/dashboard/audit",
    "/dashboard/outbox",
    "/dashboard/reports",
    "/dashboard/reports.csv",
    "/dashboard/settings",
]


def test_no_page_without_login(app_client: TestClient, staff: str) -> None:
    for path in PAGES:
        r = app_client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/dashboard/login"
    app_client.cookies.set(SESSION_COOKIE, "forged.cookie")
    for path in PAGES:
        assert app_client.get(path).status_code == 303, path
    for path in ("/dashboard/customers", "/dashboard/outbox/deliver", "/dashboard/settings"):
        assert app_client.post(path, data={"csrf_token": "x"}).status_code == 303, path
    login(app_client)
    for path in PAGES:
        expected = 404 if path.endswith("/abc") else 200
        assert app_client.get(path).status_code == expected, path


def test_passwords_are_hashed_and_wrong_ones_refused(
    app_client: TestClient, ctx: ServiceContext, staff: str
) -> None:
    with ctx.sessions() as s:
        stored = s.scalars(select(StaffUser)).one().password_hash
    assert STAFF_PASSWORD not in stored
    assert stored.startswith("scrypt$")
    assert verify_password(STAFF_PASSWORD, stored)
    assert not verify_password("wrong", stored)
    assert hash_password("x") != hash_password("x")  # salted
    page = app_client.get("/dashboard/login")
    r = app_client.post(
        "/dashboard/login",
        data={"email": staff, "password": "wrong password", "csrf_token": csrf_of(page.text)},
    )
    assert "err=" in r.headers["location"]
    assert SESSION_COOKIE not in r.cookies
    # a login form posted from elsewhere (no login CSRF cookie) is refused
    app_client.cookies.clear()
    r = app_client.post(
        "/dashboard/login", data={"email": staff, "password": STAFF_PASSWORD, "csrf_token": "x"}
    )
    assert SESSION_COOKIE not in r.cookies


def test_forms_need_the_csrf_token(app_client: TestClient, ctx: ServiceContext, staff: str) -> None:
    csrf = login(app_client)
    for token in (None, "not-the-token"):
        data = {"name": "Mallory", "email": "m@example.com"}
        if token:
            data["csrf_token"] = token
        r = app_client.post("/dashboard/customers", data=data)
        assert r.status_code == 403
    with ctx.sessions() as s:
        assert list(s.scalars(select(Customer))) == []
    r = app_client.post(
        "/dashboard/customers", data={"name": "Dana", "email": "d@example.com", "csrf_token": csrf}
    )
    assert r.status_code == 303
    with ctx.sessions() as s:
        assert [c.name for c in s.scalars(select(Customer))] == ["Dana"]


def test_invoice_send_void_and_double_click(
    app_client: TestClient, ctx: ServiceContext, staff: str
) -> None:
    csrf = login(app_client)
    app_client.post(
        "/dashboard/customers", data={"name": "Dana", "email": "d@example.com", "csrf_token": csrf}
    )
    with ctx.sessions() as s:
        customer_id = s.scalars(select(Customer.id)).one()
    r = app_client.post(
        "/dashboard/invoices",
        data={
            "csrf_token": csrf,
            "customer_id": customer_id,
            "description": ["Repair", "Parts", ""],
            "quantity": ["1", "3", "1"],
            "unit_price": ["80.00", "2.50", ""],
            "tax": "1.10",
        },
    )
    assert r.status_code == 303
    invoice_path = r.headers["location"].split("?")[0]
    with ctx.sessions() as s:
        invoice = s.scalars(select(Invoice)).one()
        assert (invoice.total, len(invoice.line_items), invoice.status) == (8860, 2, "draft")
    form = {"csrf_token": csrf, "request_key": "k1"}
    for _ in range(2):  # a double click sends one email
        app_client.post(f"{invoice_path}/send", data=form)
    with ctx.sessions() as s:
        mails = list(s.scalars(select(OutboxEvent).where(OutboxEvent.channel == "email")))
        assert s.get_one(Invoice, invoice.id).status == "open"
    assert len(mails) == 1
    assert "/pay/" in mails[0].payload_json
    page = app_client.get(invoice_path)
    assert "pay-url" in page.text
    r = app_client.post(f"{invoice_path}/void", data={"csrf_token": csrf})
    with ctx.sessions() as s:
        assert s.get_one(Invoice, invoice.id).status == "void"
    bad = app_client.post(
        "/dashboard/invoices",
        data={"csrf_token": csrf, "description": ["x"], "unit_price": ["abc"]},
    )
    assert "err=" in bad.headers["location"]


def test_refund_from_the_dashboard_and_report_csv(
    app_client: TestClient,
    ctx: ServiceContext,
    staff: str,
    sandbox: Sandbox,
    web: WebSettings,
) -> None:
    from cloverpay.service.db import Merchant

    with ctx.sessions() as s:
        merchant = s.scalars(select(Merchant)).one()
    invoice = open_test_invoice(ctx, merchant)
    url, _ = pay_link_for(ctx, web, invoice.id)
    path = url.removeprefix(web.public_url)
    app_client.post(path, data={"token": make_token(sandbox), "attempt_nonce": "n"})
    csrf = login(app_client)
    page = app_client.get("/dashboard/payments").text
    assert "$21.60" in page
    payment_id = page.split("/dashboard/payments/")[1].split("/refund")[0]
    r = app_client.post(
        f"/dashboard/payments/{payment_id}/refund", data={"csrf_token": csrf, "amount": "5.00"}
    )
    assert "Refunded" in r.headers["location"]
    too_much = app_client.post(
        f"/dashboard/payments/{payment_id}/refund", data={"csrf_token": csrf, "amount": "50"}
    )
    assert "err=" in too_much.headers["location"]
    with ctx.sessions() as s:
        assert [r.amount for r in s.scalars(select(Refund))] == [500]
    csv = app_client.get("/dashboard/reports.csv?days=2")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("date,currency,payments")
    assert lines[-1].endswith(",USD,21.60,1,5.00,1,0.00,16.60")
    # fees are estimated from the rate staff set: 2.9 % + $0.30 of the $21.60 card payment
    bad = app_client.post(
        "/dashboard/settings/fees", data={"csrf_token": csrf, "rate_percent": "x", "fixed": "0"}
    )
    assert "err=" in bad.headers["location"]
    saved = app_client.post(
        "/dashboard/settings/fees",
        data={"csrf_token": csrf, "rate_percent": "2.9", "fixed": "$0.30"},
    )
    assert "msg=" in saved.headers["location"]
    assert 'value="2.90"' in app_client.get("/dashboard/settings").text
    lines = app_client.get("/dashboard/reports.csv?days=2").text.strip().splitlines()
    assert lines[-1].endswith(",USD,21.60,1,5.00,1,0.93,15.67")
    assert "$0.93" in app_client.get("/dashboard/reports").text
    report = app_client.get("/dashboard/reports")
    assert "<svg" in report.text
    assert "content-security-policy" in report.headers
