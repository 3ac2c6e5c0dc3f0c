"""``cloverpay up`` as a user runs it: a subprocess that prints the dashboard URL, serves
the login page, and seeds its demo data once however often it is started."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from ...up_process import free_port, start_up, stop_up


def _run_once(tmp_path: Path) -> str:
    proc, port, printed = start_up(tmp_path, columns=120)
    try:
        assert f"http://127.0.0.1:{port}/dashboard" in printed, printed
        assert re.search(r"cpk_\w+", printed), printed
        assert "owner@demo.cloverpay.test" in printed
        login = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/dashboard/login", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert login is not None
        assert login.status_code == 200
        assert "Sign in" in login.text
        return printed
    finally:
        stop_up(proc)


def test_up_starts_serves_and_seeds_once(tmp_path: Path) -> None:
    first = _run_once(tmp_path)
    second = _run_once(tmp_path)
    key = re.search(r"cpk_\S+", first)
    assert key is not None
    assert key.group(0) in second  # the same demo key on the second run
    engine = create_engine(f"sqlite:///{tmp_path}/data/cloverpay.db")
    with engine.connect() as conn:
        counts = [
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("merchants", "customers", "invoices", "staff_users", "api_keys")
        ]
    engine.dispose()
    assert counts == [1, 3, 3, 1, 1]


def test_up_registers_the_builtin_terminal_already_paired(tmp_path: Path) -> None:
    from cloverpay.service.db import Terminal
    from cloverpay.service.terminal_runtime import runtime_for
    from cloverpay.service.up import prepare

    info, app, server = prepare(
        data_dir=tmp_path / "data",
        host="127.0.0.1",
        port=free_port(),
        sandbox_port=free_port(),
        terminal=True,
    )
    ctx = app.state.ctx  # type: ignore[attr-defined]
    runtime = runtime_for(ctx)
    try:
        assert runtime is not None
        assert info.terminal_url
        with ctx.sessions() as s:
            [terminal] = s.query(Terminal).all()
        assert terminal.url == info.terminal_url
        deadline = time.monotonic() + 20
        while not runtime.is_ready(terminal.id):
            assert time.monotonic() < deadline, "the built-in terminal never became ready"
            time.sleep(0.05)
        with ctx.sessions() as s:
            row = s.get(Terminal, terminal.id)
        assert row is not None
        assert row.pairing_code is None  # paired up front: no code to type
    finally:
        if runtime is not None:
            runtime.stop()
        server.stop()  # type: ignore[attr-defined]


def test_up_records_a_hosted_checkout_payment_through_the_webhook(tmp_path: Path) -> None:
    """In ``up``, the sandbox's webhooks reach our receivers: a Hosted Checkout payment
    is recorded by the webhook worker (the payer never comes back to the return page),
    and the app webhooks arrive verified after the handshake ``up`` did by itself."""
    from cloverpay.service.core.config import Settings
    from cloverpay.service.services import ServiceContext
    from cloverpay.service.web import WebSettings, pay_link_for

    from .conftest import csrf_of

    proc, port, printed = start_up(tmp_path)
    key = re.search(r"cpk_\S+", printed)
    if key is None:
        stop_up(proc)
    assert key is not None, printed
    api_key = key.group(0)
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path}/data/cloverpay.db"
    try:
        with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as staff:
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = staff.get("/dashboard/login")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            r = staff.post(
                "/dashboard/login",
                data={
                    "email": "owner@demo.cloverpay.test",
                    "password": "cloverpay-demo",
                    "csrf_token": csrf_of(page.text),
                },
            )
            assert r.status_code == 303, r.text
            csrf = csrf_of(staff.get("/dashboard/settings").text)
            r = staff.post(
                "/dashboard/settings", data={"pay_flow": "hosted_checkout", "csrf_token": csrf}
            )
            assert r.status_code == 303, r.text
        auth = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=base, headers=auth, timeout=10) as api:
            inv = api.post(
                "/v1/invoices", json={"line_items": [{"description": "Leak", "unit_amount": 6100}]}
            ).json()
            assert api.post(f"/v1/invoices/{inv['id']}/open").status_code == 200
        settings = Settings(
            database_url=db, secret_key=(tmp_path / "data" / "secret.key").read_text().strip()
        )
        ctx = ServiceContext.build(settings)
        try:
            url, _ = pay_link_for(ctx, WebSettings(public_url=base), inv["id"])
        finally:
            ctx.close()
        r = httpx.get(url, follow_redirects=False, timeout=10)
        assert r.status_code == 303, r.text
        checkout = r.headers["location"]
        assert "/checkout/" in checkout
        pay = httpx.post(
            checkout + "/pay",
            data={"number": "4242424242424242", "exp": "12/31", "cvv": "123"},
            follow_redirects=False,
            timeout=10,
        )
        assert pay.status_code in (200, 303), pay.text  # and the payer goes away
        with httpx.Client(base_url=base, headers=auth, timeout=10) as api:
            deadline = time.monotonic() + 30
            while api.get(f"/v1/invoices/{inv['id']}").json()["status"] != "paid":
                assert time.monotonic() < deadline, "the webhook never recorded the payment"
                time.sleep(0.2)
        engine = create_engine(db)
        deadline = time.monotonic() + 30
        try:
            while True:
                with engine.connect() as conn:
                    actors = conn.execute(
                        text("SELECT actor FROM audit_log WHERE action = 'charge_attempt.recorded'")
                    ).all()
                    inbox = conn.execute(
                        text("SELECT source, verified, status FROM webhook_inbox ORDER BY id")
                    ).all()
                app_rows = [r for r in inbox if r[0] == "clover_app"]
                if app_rows and all(r[2] == "processed" for r in inbox):
                    break
                assert time.monotonic() < deadline, inbox
                time.sleep(0.2)
        finally:
            engine.dispose()
        assert [a for (a,) in actors] == ["webhook:hosted_checkout"]
        assert ("hosted_checkout", 1, "processed") in [tuple(r) for r in inbox]
        assert inbox[0][0] == "clover_app_verification"  # the handshake, done by up
        assert all(verified for _, verified, _ in app_rows)  # X-Clover-Auth matched
    finally:
        stop_up(proc)
