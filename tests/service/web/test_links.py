"""Pay links: signature, expiry, tampering; the pay page's CSP and SRI; no charge on a
bad link."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from cloverpay.sandbox import Sandbox
from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import LinkError, WebSettings, pay_link_for, sign_link, verify_link
from cloverpay.service.web._security_headers import STATIC_DIR

from ..conftest import clover_charges, open_test_invoice

KEY = b"k" * 32
NOW = datetime(2026, 5, 1, 12, 0, 0)


def test_link_roundtrip_and_expiry() -> None:
    link = sign_link(KEY, "abc123", now=NOW, ttl_s=3600)
    assert verify_link(KEY, link.token, now=NOW).invoice_id == "abc123"
    assert verify_link(KEY, link.token, now=NOW + timedelta(seconds=3599)).invoice_id == "abc123"
    with pytest.raises(LinkError) as info:
        verify_link(KEY, link.token, now=NOW + timedelta(seconds=3600))
    assert info.value.reason == "expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("abc123", "abc124", 1),  # other invoice
        lambda t: ".".join([t.split(".")[0], str(int(t.split(".")[1]) + 3600), t.split(".")[2]]),
        lambda t: t[:-2],  # cut signature
        lambda t: t + "x",
        lambda t: "abc123." + t.split(".")[1],  # no signature
        lambda t: "",
    ],
)
def test_tampered_links_are_refused(mutate: object) -> None:
    token = sign_link(KEY, "abc123", now=NOW, ttl_s=3600).token
    with pytest.raises(LinkError) as info:
        verify_link(KEY, mutate(token), now=NOW)  # type: ignore[operator]
    assert info.value.reason == "invalid"


def test_other_key_is_refused() -> None:
    token = sign_link(KEY, "abc123", now=NOW, ttl_s=3600).token
    with pytest.raises(LinkError):
        verify_link(b"x" * 32, token, now=NOW)


def test_pay_page_headers_csp_and_sri(
    app_client: TestClient, ctx: ServiceContext, merchant: Merchant, web: WebSettings
) -> None:
    invoice = open_test_invoice(ctx, merchant)
    url, _ = pay_link_for(ctx, web, invoice.id)
    r = app_client.get(url.replace("http://testserver", ""))
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self' https://sdk.clover.test"
    assert directives["frame-src"] == "https://sdk.clover.test"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert '<script src="https://sdk.clover.test/sdk.js"></script>' in r.text
    # no inline script at all
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    digest = base64.b64encode(hashlib.sha384((STATIC_DIR / "pay.js").read_bytes()).digest())
    assert f'src="/static/web/pay.js" integrity="sha384-{digest.decode()}"' in r.text
    # the script served is the one hashed
    served = app_client.get("/static/web/pay.js").content
    assert served == (STATIC_DIR / "pay.js").read_bytes()
    assert invoice.number in r.text
    assert "$21.60" in r.text


def test_expired_and_tampered_links_show_a_page_and_charge_nothing(
    app_client: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    web: WebSettings,
    sandbox: Sandbox,
    clock: object,
) -> None:
    from ..conftest import make_token

    invoice = open_test_invoice(ctx, merchant)
    url, _ = pay_link_for(ctx, web, invoice.id)
    path = url.replace("http://testserver", "")
    inv_id, expiry, sig = path.removeprefix("/pay/").split(".")
    tampered = f"/pay/{inv_id}.{int(expiry) + 999999}.{sig}"
    r = app_client.get(tampered)
    assert r.status_code == 404
    assert "not valid" in r.text
    assert "Nothing was charged" in r.text
    token = make_token(sandbox)
    r = app_client.post(tampered, data={"token": token, "attempt_nonce": "n1"})
    assert r.status_code == 404
    clock.advance(web.pay_link_ttl_s + 1)  # type: ignore[attr-defined]
    r = app_client.get(path)
    assert r.status_code == 410
    assert "expired" in r.text
    r = app_client.post(path, data={"token": token, "attempt_nonce": "n2"})
    assert r.status_code == 410
    assert clover_charges(sandbox) == []
