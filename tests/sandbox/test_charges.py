"""/v1/charges: create, decline, validation, capture, list paging, idempotency, faults."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.sandbox import TEST_CARDS, Notification, Sandbox

from .helpers import XFF, charge, counts, error, tokenize


def test_create_charge_and_auto_order(sandbox: Sandbox, http: httpx.Client) -> None:
    notes: list[Notification] = []
    sandbox.state.subscribe(notes.append)
    r = charge(
        http,
        sandbox,
        amount=1100,
        tax_amount=100,
        tip_amount=200,
        description="Two coffees",
        external_reference_id="INV 42",
        metadata={"crm_id": "c-1"},
        receipt_email="buyer@example.com",
        ecomind="moto",
    )
    assert r.status_code == 200, r.text
    ch = r.json()
    assert len(ch["id"]) == 13
    assert ch["id"].isupper() or ch["id"].isdigit() or ch["id"].isalnum()
    assert ch["object"] == "charge"
    assert ch["status"] == "succeeded"
    assert ch["captured"] is True
    assert ch["paid"] is True
    assert ch["amount"] == ch["amount_captured"] == 1100
    assert ch["amount_refunded"] == 0
    assert ch["tax_amount"] == 100
    assert ch["tip_amount"] == 200
    assert ch["ecomind"] == "moto"
    assert ch["external_reference_id"] == "INV 42"
    assert ch["metadata"] == {"crm_id": "c-1"}
    assert ch["source"]["last4"] == "4242"
    assert ch["created"] > 10**12
    assert ch["ref_num"]
    assert ch["auth_code"]
    order = http.get(f"/v1/orders/{ch['order']}").json()
    assert order["status"] == "paid"
    assert order["amount"] == 1100
    assert order["charge"] == ch["id"]
    assert ("P", ch["id"], "CREATE") in [(n.key, n.object_id, n.kind) for n in notes]
    assert ("O", ch["order"], "CREATE") in [(n.key, n.object_id, n.kind) for n in notes]
    assert http.get(f"/v1/charges/{ch['id']}").json() == ch


def test_x_forwarded_for_required(sandbox: Sandbox) -> None:
    with sandbox.client() as c:
        token = tokenize(c, sandbox)
        r = c.post("/v1/charges", json={"amount": 100, "currency": "usd", "source": token})
    assert r.status_code == 400
    assert error(r)["param"] == "x-forwarded-for"
    assert "x-forwarded-for" in error(r)["message"]
    assert counts(sandbox)["charges"] == 0


@pytest.mark.parametrize("number", sorted(n for n, o in TEST_CARDS.items() if not o.approved))
def test_every_declining_card(sandbox: Sandbox, http: httpx.Client, number: str) -> None:
    r = charge(http, sandbox, number=number)
    assert r.status_code == 402
    err = error(r)
    assert err["type"] == "card_error"
    assert err["code"] == "card_declined"
    assert err["decline_code"] == TEST_CARDS[number].decline_code
    stored = http.get(f"/v1/charges/{err['charge']}").json()
    assert stored["status"] == "failed"
    assert stored["paid"] is False
    assert stored["failure_code"] == err["decline_code"]


@pytest.mark.parametrize("number", sorted(n for n, o in TEST_CARDS.items() if o.approved))
def test_every_approving_card(sandbox: Sandbox, http: httpx.Client, number: str) -> None:
    r = charge(http, sandbox, number=number, amount=500)
    assert r.status_code == 200, r.text
    assert r.json()["source"]["last4"] == number[-4:]


def test_partial_approval_card_declines(sandbox: Sandbox, http: httpx.Client) -> None:
    err = error(charge(http, sandbox, number="4005578003333335"))
    assert err["decline_code"] == "partial_approval"


def test_decline_status_switch(sandbox: Sandbox, http: httpx.Client) -> None:
    http.post("/_sandbox/config", json={"decline_status": 400})
    r = charge(http, sandbox, number="4000000000000002")
    assert r.status_code == 400
    assert error(r)["code"] == "card_declined"


def test_token_single_use(sandbox: Sandbox, http: httpx.Client) -> None:
    token = tokenize(http, sandbox)
    body = {"amount": 100, "currency": "usd", "source": token}
    assert http.post("/v1/charges", json=body).status_code == 200
    r = http.post("/v1/charges", json=body)
    assert r.status_code == 400
    assert error(r)["code"] == "token_already_used"
    assert error(r)["param"] == "source"
    # a declined attempt uses the token too
    bad = tokenize(http, sandbox, "4000000000000002")
    http.post("/v1/charges", json={**body, "source": bad})
    assert (
        error(http.post("/v1/charges", json={**body, "source": bad}))["code"]
        == "token_already_used"
    )


@pytest.mark.parametrize(
    ("patch", "code", "param"),
    [
        ({"amount": None}, "parameter_missing", "amount"),
        ({"amount": 0}, "parameter_invalid", "amount"),
        ({"amount": -5}, "parameter_invalid", "amount"),
        ({"amount": "100"}, "parameter_invalid_integer", "amount"),
        ({"amount": True}, "parameter_invalid_integer", "amount"),
        ({"amount": 10.5}, "parameter_invalid_integer", "amount"),
        ({"amount": 100_000_000}, "amount_too_large", "amount"),
        ({"currency": None}, "parameter_missing", "currency"),
        ({"currency": "dollars"}, "parameter_invalid", "currency"),
        ({"source": None}, "parameter_missing", "source"),
        ({"source": "clv_1TSTunknown"}, "resource_missing", "source"),
        ({"source": "NOSUCHCUSTOMR"}, "resource_missing", "source"),
        ({"tip_amount": -1}, "invalid_tip_amount", "tip_amount"),
        ({"tip_amount": "1"}, "invalid_tip_amount", "tip_amount"),
        ({"tip_amount": 99_999_999}, "amount_too_large", "tip_amount"),
        ({"tax_amount": -1}, "invalid_tax_amount", "tax_amount"),
        ({"tax_amount": 5000}, "invalid_tax_amount", "tax_amount"),
        ({"external_reference_id": "THIRTEEN-CHAR"}, "parameter_invalid", "external_reference_id"),
        ({"receipt_email": "not-an-email"}, "email_invalid", "receipt_email"),
        ({"ecomind": "retail-store"}, "parameter_invalid", "ecomind"),
        ({"capture": "yes"}, "parameter_invalid", "capture"),
        ({"metadata": "x"}, "parameter_invalid", "metadata"),
        ({"metadata": {"k": {"nested": 1}}}, "parameter_invalid", "metadata.k"),
        ({"description": "x" * 256}, "parameter_invalid", "description"),
        (
            {"stored_credentials": {"sequence": "THIRD"}},
            "parameter_invalid",
            "stored_credentials.sequence",
        ),
        ({"source": "alternate_tender"}, "parameter_missing", "tender"),
        (
            {"source": "alternate_tender", "tender": {"label_key": "x"}},
            "parameter_invalid",
            "tender.label_key",
        ),
    ],
)
def test_charge_validation(
    sandbox: Sandbox, http: httpx.Client, patch: dict[str, object], code: str, param: str
) -> None:
    token = tokenize(http, sandbox)
    body: dict[str, object] = {"amount": 1000, "currency": "usd", "source": token}
    body.update(patch)
    body = {k: v for k, v in body.items() if v is not None}
    before = counts(sandbox)
    r = http.post("/v1/charges", json=body)
    assert r.status_code in (400, 404), r.text
    err = error(r)
    assert err["code"] == code
    assert err["param"] == param
    assert param.split(".")[0] in err["message"] or code == "resource_missing"
    assert counts(sandbox) == before
    assert sandbox.state.ecommerce.tokens.objects[token].used is False


def test_unknown_fields_tolerated(sandbox: Sandbox, http: httpx.Client) -> None:
    r = charge(http, sandbox, something_new={"a": 1}, skip_default_convenience_fee=True)
    assert r.status_code == 200


def test_alternate_tender(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.post(
        "/v1/charges",
        json={
            "amount": 700,
            "currency": "usd",
            "source": "alternate_tender",
            "tender": {"label_key": "com.clover.tender.cash"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["payment_method_details"] == "alternate_tender"


def test_preauth_then_capture(sandbox: Sandbox, http: httpx.Client) -> None:
    ch = charge(http, sandbox, amount=5000, capture=False).json()
    assert ch["captured"] is False
    assert ch["amount_captured"] == 0
    assert http.get(f"/v1/orders/{ch['order']}").json()["status"] == "created"
    too_much = http.post(f"/v1/charges/{ch['id']}/capture", json={"amount": 5001})
    assert error(too_much)["code"] == "amount_too_large"
    cap = http.post(f"/v1/charges/{ch['id']}/capture", json={"amount": 4000}).json()
    assert cap["captured"] is True
    assert cap["amount_captured"] == 4000
    assert http.get(f"/v1/orders/{ch['order']}").json()["amount_paid"] == 4000
    again = http.post(f"/v1/charges/{ch['id']}/capture", json={})
    assert again.status_code == 400
    assert error(again)["code"] == "charge_already_captured"


def test_capture_full_default_and_errors(sandbox: Sandbox, http: httpx.Client) -> None:
    ch = charge(http, sandbox, amount=900, capture=False).json()
    assert http.post(f"/v1/charges/{ch['id']}/capture").json()["amount_captured"] == 900
    assert http.post("/v1/charges/NOPE/capture").status_code == 404
    failed = error(charge(http, sandbox, number="4000000000000002", capture=False))["charge"]
    r = http.post(f"/v1/charges/{failed}/capture")
    assert r.status_code == 400
    assert error(r)["param"] == "charge"
    bad = http.post(f"/v1/charges/{ch['id']}/capture", json={"amount": "x"})
    assert error(bad)["param"] == "amount"


def test_retrieve_unknown_and_other_merchant(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.get("/v1/charges/AAAAAAAAAAAAA")
    assert r.status_code == 404
    assert error(r)["code"] == "resource_missing"
    ch = charge(http, sandbox).json()
    other = sandbox.state.add_merchant("Other")
    r = http.get(
        f"/v1/charges/{ch['id']}", headers={"Authorization": f"Bearer {other.access_token}"}
    )
    assert r.status_code == 404


def test_list_paging(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = [charge(http, sandbox, amount=100 + i).json()["id"] for i in range(25)]
    newest_first = list(reversed(ids))
    page1 = http.get("/v1/charges").json()
    assert page1["object"] == "list"
    assert page1["url"] == "/v1/charges"
    assert page1["has_more"] is True
    assert [c["id"] for c in page1["data"]] == newest_first[:10]
    page2 = http.get(f"/v1/charges?limit=10&starting_after={newest_first[9]}").json()
    assert [c["id"] for c in page2["data"]] == newest_first[10:20]
    page3 = http.get(f"/v1/charges?limit=10&starting_after={newest_first[19]}").json()
    assert [c["id"] for c in page3["data"]] == newest_first[20:]
    assert page3["has_more"] is False
    back = http.get(f"/v1/charges?limit=5&ending_before={newest_first[10]}").json()
    assert [c["id"] for c in back["data"]] == newest_first[5:10]
    assert back["has_more"] is True
    assert len(http.get("/v1/charges?limit=100").json()["data"]) == 25
    for bad in ("0", "101", "x"):
        assert error(http.get(f"/v1/charges?limit={bad}"))["param"] == "limit"
    assert error(http.get("/v1/charges?starting_after=NOPE"))["param"] == "starting_after"


def test_list_created_filters(sandbox: Sandbox, http: httpx.Client) -> None:
    first = charge(http, sandbox).json()
    sandbox.state.clock.advance(60)
    second = charge(http, sandbox).json()
    t = second["created"]
    assert [c["id"] for c in http.get(f"/v1/charges?created.gte={t}").json()["data"]] == [
        second["id"]
    ]
    assert [c["id"] for c in http.get(f"/v1/charges?created.lt={t}").json()["data"]] == [
        first["id"]
    ]
    assert http.get(f"/v1/charges?created.gt={t}").json()["data"] == []
    assert len(http.get(f"/v1/charges?created.lte={t}").json()["data"]) == 2
    assert error(http.get("/v1/charges?created.gt=yesterday"))["param"] == "created.gt"
    assert http.get("/v1/charges?created.gt=2001-01-01 00:00:00").json()["data"]


def test_list_customer_filter(sandbox: Sandbox, http: httpx.Client) -> None:
    cust = http.post(
        "/v1/customers", json={"email": "a@example.com", "source": tokenize(http, sandbox)}
    ).json()
    charge(http, sandbox)
    mine = http.post(
        "/v1/charges", json={"amount": 300, "currency": "usd", "source": cust["id"]}
    ).json()
    listed = http.get(f"/v1/charges?customer={cust['id']}").json()["data"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert http.get("/v1/charges?customer=UNKNOWN").json()["data"] == []


def test_multipay_token_needs_stored_credentials(sandbox: Sandbox, http: httpx.Client) -> None:
    first = charge(
        http,
        sandbox,
        intent="save_credential_on_file",
        stored_credentials={"sequence": "FIRST", "initiator": "CARDHOLDER", "is_scheduled": False},
    ).json()
    multipay = first["saved_credentials_on_file"]["token"]
    assert multipay.startswith("clv_")
    body = {"amount": 200, "currency": "usd", "source": multipay}
    r = http.post("/v1/charges", json=body)
    assert error(r)["param"] == "stored_credentials"
    sc = {"sequence": "SUBSEQUENT", "initiator": "MERCHANT", "is_scheduled": True}
    for _ in range(2):  # multi-pay tokens are reusable
        ok = http.post("/v1/charges", json={**body, "stored_credentials": sc})
        assert ok.status_code == 200
        assert "warning_message" not in ok.json()


def test_subsequent_without_first_warns(sandbox: Sandbox, http: httpx.Client) -> None:
    cust = http.post(
        "/v1/customers", json={"email": "w@example.com", "source": tokenize(http, sandbox)}
    ).json()
    r = http.post(
        "/v1/charges",
        json={
            "amount": 200,
            "currency": "usd",
            "source": cust["id"],
            "stored_credentials": {"sequence": "SUBSEQUENT", "initiator": "MERCHANT"},
        },
    )
    assert "Initial credential" in r.json()["warning_message"]


def test_idempotent_charge_creation(sandbox: Sandbox, http: httpx.Client) -> None:
    body = {"amount": 1234, "currency": "usd", "source": tokenize(http, sandbox)}
    h = {"idempotency-key": "4b1c9d2e-0000-4000-8000-000000000001"}
    a = http.post("/v1/charges", json=body, headers=h)
    b = http.post("/v1/charges", json=body, headers=h)
    assert a.json() == b.json()
    assert b.headers["idempotent-replayed"] == "true"
    assert counts(sandbox)["charges"] == 1
    c = http.post("/v1/charges", json={**body, "amount": 1}, headers=h)
    assert error(c)["type"] == "idempotency_error"
    assert counts(sandbox)["charges"] == 1


def test_idempotent_decline_replays(sandbox: Sandbox, http: httpx.Client) -> None:
    body = {"amount": 50, "currency": "usd", "source": tokenize(http, sandbox, "4000000000009995")}
    h = {"idempotency-key": "decl-1"}
    a = http.post("/v1/charges", json=body, headers=h)
    b = http.post("/v1/charges", json=body, headers=h)
    assert a.status_code == b.status_code == 402
    assert a.json() == b.json()
    assert counts(sandbox)["charges"] == 1


def test_commit_then_drop_retry_gives_one_charge(sandbox: Sandbox, http: httpx.Client) -> None:
    body = {"amount": 999, "currency": "usd", "source": tokenize(http, sandbox)}
    h = {"idempotency-key": "net-1"}
    sandbox.state.faults.arm("commit_then_drop", method="POST", path="/v1/charges")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/charges", json=body, headers=h)
    assert counts(sandbox)["charges"] == 1
    retry = http.post("/v1/charges", json=body, headers=h)
    assert retry.status_code == 200
    assert counts(sandbox)["charges"] == 1
    assert retry.json()["id"] == next(iter(sandbox.state.ecommerce.charges.objects))


def test_status_fault_on_charges_commits_nothing(sandbox: Sandbox, http: httpx.Client) -> None:
    token = tokenize(http, sandbox)
    sandbox.state.faults.arm("status", path="/v1/charges", status=503)
    r = http.post("/v1/charges", json={"amount": 10, "currency": "usd", "source": token})
    assert r.status_code == 503
    assert counts(sandbox)["charges"] == 0
    assert (
        http.post(
            "/v1/charges", json={"amount": 10, "currency": "usd", "source": token}
        ).status_code
        == 200
    )


def test_headers_sent_with_charge_not_logged(sandbox: Sandbox, http: httpx.Client) -> None:
    charge(http, sandbox)
    import json

    dumped = json.dumps(sandbox.state.events.list())
    assert sandbox.state.merchant.access_token not in dumped
    assert XFF["x-forwarded-for"] not in dumped


def test_preauth_expires_for_capture(sandbox: Sandbox, http: httpx.Client) -> None:
    ch = charge(http, sandbox, amount=800, capture=False).json()
    http.post("/_sandbox/clock/advance", json={"seconds": 7 * 24 * 3600 + 1})
    r = http.post(f"/v1/charges/{ch['id']}/capture")
    assert r.status_code == 400
    assert error(r)["code"] == "charge_expired_for_capture"
    assert http.get(f"/v1/charges/{ch['id']}").json()["captured"] is False
    # the window is a switch
    http.post("/_sandbox/config", json={"preauth_ttl_s": 30 * 24 * 3600})
    assert http.post(f"/v1/charges/{ch['id']}/capture").json()["captured"] is True
