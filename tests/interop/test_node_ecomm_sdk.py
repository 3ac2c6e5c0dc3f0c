"""Clover's official Node Ecommerce SDK (npm ``clover-ecomm-sdk`` 1.0.0, unmodified)
against the sandbox on a real socket.

Each test runs ``node tests/js/ecomm_flow.js <scenario>``, which repoints the SDK at
the sandbox the way a user would (its loaded ``config.json`` and ``setHost``) and prints
one JSON line. The tests assert on that line and cross-check the sandbox's own record
(its event log and its HTTP API), so a peer that silently did nothing cannot pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._peers import NodePeer, RunningSandbox, cli_sandbox

pytestmark = [pytest.mark.node, pytest.mark.timeout(60)]

BUYER_IP = "203.0.113.7"


def run_flow(
    node_peer: NodePeer, sandbox: RunningSandbox, scenario: str, *, buyer_ip: str | None = BUYER_IP
) -> dict[str, Any]:
    env = sandbox.env()
    if buyer_ip is not None:
        env["CLOVER_FORWARDED_FOR"] = buyer_ip
    return node_peer.run("ecomm_flow.js", scenario, env=env)


def expect_ok(result: dict[str, Any]) -> None:
    if not result.get("ok"):
        pytest.fail("the Node flow failed:\n" + json.dumps(result, indent=1)[:4000])


def statuses(sandbox: RunningSandbox, method: str, path: str) -> list[int]:
    return [e["status"] for e in sandbox.requests(method, path) if e["path"] == path]


def test_token_charge_refund_through_the_official_sdk(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    result = run_flow(node_peer, sandbox_server, "charge-refund")
    expect_ok(result)

    # PAKMS through the SDK gives the merchant's public key, which tokenizes.
    assert result["pakms"]["apiAccessKey"] == sandbox_server.api_access_key
    token = result["token"]
    assert token["id"].startswith("clv_")
    assert token["card"]["first6"] == "424242"
    assert token["card"]["last4"] == "4242"
    assert result["token_retrieved"]["card"]["last4"] == "4242"

    charge = result["charge"]
    assert charge["amount"] == 2500
    assert charge["currency"].lower() == "usd"
    assert charge["status"] == "succeeded"
    assert charge["paid"] is True
    assert charge["source"]["last4"] == "4242"

    refund = result["refund"]
    assert refund["object"] == "refund"
    assert refund["charge"] == charge["id"]
    assert refund["amount"] == 1000
    assert refund["status"] == "succeeded"
    assert result["refund_retrieved"]["id"] == refund["id"]
    assert result["refund_retrieved"]["amount"] == 1000

    after = result["charge_after_refund"]
    assert after["id"] == charge["id"]
    assert after["amount_refunded"] == 1000
    assert after["refunded"] is False  # partial refund

    # The sandbox's own record agrees: one charge, one refund, made by this peer.
    assert statuses(sandbox_server, "POST", "/v1/tokens") == [200]
    assert statuses(sandbox_server, "POST", "/v1/charges") == [200]
    assert statuses(sandbox_server, "POST", "/v1/refunds") == [200]
    assert statuses(sandbox_server, "GET", f"/v1/charges/{charge['id']}") == [200]
    with sandbox_server.client() as backend:
        stored = backend.get(f"/v1/charges/{charge['id']}").json()
    assert stored["amount"] == 2500
    assert stored["amount_refunded"] == 1000


def test_order_create_and_pay_through_the_official_sdk(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    result = run_flow(node_peer, sandbox_server, "order-pay")
    expect_ok(result)

    order = result["order"]
    assert order["object"] == "order"
    assert order["status"] == "created"
    assert order["amount"] == 1800 + 2 * 350

    paid = result["paid"]
    assert paid["id"] == order["id"]
    assert paid["status"] == "paid"
    assert paid["amount_paid"] == order["amount"]
    assert paid["charge"]
    assert result["order_after_pay"]["status"] == "paid"

    assert statuses(sandbox_server, "POST", "/v1/orders") == [200]
    assert statuses(sandbox_server, "POST", f"/v1/orders/{order['id']}/pay") == [200]
    # The SDK's returnOrder refunds the order (the response shape is guessed, spec §7).
    assert result["returned"]["amount"] == order["amount"]
    assert statuses(sandbox_server, "POST", f"/v1/orders/{order['id']}/returns") == [200]
    with sandbox_server.client() as backend:
        charge = backend.get(f"/v1/charges/{paid['charge']}").json()
    assert charge["amount"] == order["amount"]
    assert charge["order"] == order["id"]
    assert charge["amount_refunded"] == order["amount"]


def test_declined_card_is_an_sdk_card_error_with_clovers_code(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    result = run_flow(node_peer, sandbox_server, "decline")
    expect_ok(result)
    assert result["token"]["card"]["last4"] == "2222"

    # The sandbox declined it (so the assertion below is about the SDK's view).
    assert statuses(sandbox_server, "POST", "/v1/charges") == [402]

    attempt = result["charge_attempt"]
    assert "rejected" in attempt, f"the SDK resolved a declined charge as a success: {attempt}"
    error = attempt["rejected"]
    assert error["class"] == "CloverCardError"
    assert error["rawType"] == "card_error"
    assert error["code"] == "card_declined"
    assert error["message"] == "The card was declined."
    # SDK 1.0.0 builds card errors from the nested `error` object alone and attaches the
    # HTTP status only to its 401 errors, so `statusCode` stays unset here.
    assert error["statusCode"] is None


def test_wrong_access_token_is_an_sdk_authentication_error(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    env = {**sandbox_server.env(), "CLOVER_ACCESS_TOKEN": "not-a-real-token"}
    result = node_peer.run("ecomm_flow.js", "charge-refund", env=env)
    assert not result["ok"]
    assert result["failed_step"] == "apikey.retrieve"
    assert result["error"]["class"] == "CloverAuthenticationError"
    assert result["error"]["statusCode"] == 401
    assert statuses(sandbox_server, "GET", "/pakms/apikey") == [401]


def test_charge_without_buyer_ip_is_refused_and_nothing_is_charged(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    """SDK 1.0.0 as shipped sends no ``x-forwarded-for``; Clover requires it (spec §2)."""
    result = run_flow(node_peer, sandbox_server, "charge", buyer_ip=None)
    expect_ok(result)
    # The charge request reached the sandbox and was refused before any gateway call.
    assert statuses(sandbox_server, "POST", "/v1/charges") == [400]
    attempt = result["charge_attempt"]
    assert "forwarded" in str(attempt).lower(), attempt


def test_official_sdk_against_the_cloverpay_sandbox_command(node_peer: NodePeer) -> None:
    """What a JavaScript developer does: run ``cloverpay sandbox``, point the SDK at it."""
    with cli_sandbox() as sandbox:
        result = run_flow(node_peer, sandbox, "charge-refund")
        expect_ok(result)
        charge_id = result["charge"]["id"]
        assert result["charge_after_refund"]["amount_refunded"] == 1000
        # Cross-check over the sandbox's control API (another process).
        assert statuses(sandbox, "POST", "/v1/charges") == [200]
        assert statuses(sandbox, "POST", "/v1/refunds") == [200]
        with sandbox.client() as backend:
            stored = backend.get(f"/v1/charges/{charge_id}").json()
        assert stored["amount_refunded"] == 1000


def test_pre_auth_then_partial_capture_through_the_official_sdk(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    result = run_flow(node_peer, sandbox_server, "capture")
    expect_ok(result)
    auth, captured, after = result["auth"], result["captured"], result["after"]
    assert auth["captured"] is False
    assert auth["amount"] == 4000
    assert captured["id"] == auth["id"]
    assert captured["amount_captured"] == 3500
    assert after["amount_captured"] == 3500
    assert statuses(sandbox_server, "POST", f"/v1/charges/{auth['id']}/capture") == [200]
    (stored,) = sandbox_server.charges()
    assert stored["id"] == auth["id"]
    assert stored["amount_captured"] == 3500


def test_card_on_file_through_the_official_sdk(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    result = run_flow(node_peer, sandbox_server, "card-on-file")
    expect_ok(result)
    customer = result["customer"]
    assert customer["object"] == "customer"
    assert customer["email"] == "regular@example.com"
    charge = result["charge"]
    assert charge["customer"] == customer["id"]
    assert charge["amount"] == 1500
    assert charge["status"] == "succeeded"
    assert charge["source"]["last4"] == "4242"
    assert result["updated"]["phone"] == "4085551858"
    assert result["deleted"]["deleted"] is True

    assert statuses(sandbox_server, "DELETE", f"/v1/customers/{customer['id']}") == [200]
    with sandbox_server.client() as backend:
        gone = backend.get(f"/v1/customers/{customer['id']}")
    assert gone.status_code == 404
    assert [c["customer"] for c in sandbox_server.charges()] == [customer["id"]]


def test_sdk_retries_an_injected_503_and_charges_once(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    sandbox_server.sandbox.state.faults.arm("status", method="POST", path="/v1/charges", status=503)
    result = run_flow(node_peer, sandbox_server, "charge-retry")
    expect_ok(result)
    assert result["charge"]["amount"] == 990
    # The fault answered first (nothing ran), the SDK's retry charged, once.
    assert statuses(sandbox_server, "POST", "/v1/charges") == [503, 200]
    assert [c["id"] for c in sandbox_server.charges()] == [result["charge"]["id"]]


def test_pan_encrypted_with_nodes_crypto_tokenizes_and_charges(
    node_peer: NodePeer, sandbox_server: RunningSandbox
) -> None:
    """API-only integration: the PAN leaves the merchant only as TransArmor ciphertext."""
    result = run_flow(node_peer, sandbox_server, "encrypted-pan")
    expect_ok(result)
    assert result["encrypted_pan_length"] == 344  # base64 of 256 bytes
    # Ciphertext with one byte flipped does not decrypt, so no token (proof the sandbox
    # really decrypts rather than trusting first6/last4).
    tampered = result["tampered_attempt"]
    assert "invalid" in json.dumps(tampered), tampered
    assert statuses(sandbox_server, "POST", "/v1/tokens") == [400, 200]
    assert result["token"]["card"]["last4"] == "4242"
    assert result["charge"]["status"] == "succeeded"
    assert statuses(sandbox_server, "GET", "/assets/keys.json") == [200]
    assert [c["amount"] for c in sandbox_server.charges()] == [3100]
