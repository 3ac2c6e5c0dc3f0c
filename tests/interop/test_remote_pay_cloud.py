"""Clover's official Remote Pay SDK (npm ``remote-pay-cloud`` 4.1.2, unmodified, in
Node) against the sandbox's emulated terminal over real sockets.

``node tests/js/remote_pay_flow.js <scenario>`` pairs, runs the flow and prints one JSON
line of the SDK's own callbacks; the test checks that line and then the sandbox's own
records (the v3 payments the terminal wrote, its event log), so a peer that did nothing
cannot pass. The SDK's default WebSocket factory uses the global ``WebSocket``, which
Node 20 enables with ``--experimental-websocket`` (given through ``NODE_OPTIONS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer

from ._peers import JS_DIR, NodePeer

pytestmark = [pytest.mark.node, pytest.mark.timeout(90)]


@pytest.fixture
def remote_pay_sdk(node_peer: NodePeer) -> NodePeer:
    if not (JS_DIR / "node_modules" / "remote-pay-cloud" / "package.json").is_file():
        pytest.fail(
            "tests/js/node_modules is missing remote-pay-cloud: run scripts/test-deps"
            " (npm ci in tests/js)"
        )
    return node_peer


def _serve(tls: bool) -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=1)
    try:
        with SandboxServer(sandbox, terminal_port=0, terminal_tls=tls) as server:
            yield server
    finally:
        sandbox.close()


@pytest.fixture
def terminal_server() -> Iterator[SandboxServer]:
    yield from _serve(tls=False)


@pytest.fixture
def terminal_server_tls() -> Iterator[SandboxServer]:
    yield from _serve(tls=True)


def _run(sdk: NodePeer, server: SandboxServer, scenario: str, **env: str) -> dict[str, Any]:
    assert server.terminal_url is not None
    result = sdk.run(
        "remote_pay_flow.js",
        scenario,
        env={
            "CLOVER_TERMINAL_URL": server.terminal_url,
            "CLOVER_BASE_URL": server.base_url,
            "NODE_OPTIONS": "--experimental-websocket",
            **env,
        },
        timeout=60,
    )
    if not result.get("ok"):
        pytest.fail("the Node flow failed:\n" + json.dumps(result, indent=1)[:4000])
    return result


def _v3(server: SandboxServer, external_id: str) -> list[dict[str, Any]]:
    creds = server.credentials
    with httpx.Client(
        base_url=server.base_url, headers={"authorization": f"Bearer {creds.access_token}"}
    ) as http:
        resp = http.get(
            f"/v3/merchants/{creds.merchant_id}/payments",
            params={"filter": f"externalPaymentId={external_id}"},
        )
    assert resp.status_code == 200, resp.text
    elements: list[dict[str, Any]] = resp.json()["elements"]
    return elements


def test_pair_sale_refund_void_decline_reboot_and_reconnect(
    remote_pay_sdk: NodePeer, terminal_server: SandboxServer
) -> None:
    result = _run(remote_pay_sdk, terminal_server, "full")
    steps = result["steps"]
    by_step: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        by_step.setdefault(step["step"], []).append(step)

    # pairing: a 6-digit code, then onDeviceReady with the sandbox merchant
    assert by_step["pairing_code"][0]["code"].isdigit()
    info = by_step["ready"][0]["merchantInfo"]
    assert info["merchantID"] == terminal_server.credentials.merchant_id
    assert info["deviceInfo"]["supportsAcks"] is True

    sales = {s["externalId"]: s["response"] for s in by_step["sale"]}
    first = sales["js-sale-1"]
    assert (first["success"], first["result"], first["isSale"]) == (True, "SUCCESS", True)
    assert (first["payment"]["amount"], first["payment"]["tipAmount"]) == (1000, 150)

    refund = by_step["refund"][0]["response"]
    assert (refund["success"], refund["refund"]["amount"]) == (True, 400)
    assert refund["paymentId"] == first["payment"]["id"]

    void = by_step["void"][0]["response"]
    assert void["success"] is True
    assert void["payment"]["id"] == sales["js-sale-2"]["payment"]["id"]

    declined = sales["js-sale-declined"]
    assert (declined["success"], declined["result"]) == (False, "CANCEL")

    # a reboot drops the socket; the SDK reconnects with its token, no new code
    assert by_step["rebooted"][0]["pairing_code_again"] is False
    assert sales["js-sale-after-reboot"]["success"] is True
    assert len(by_step["ready"]) == 2  # first pairing and the fresh connector

    reconnect = by_step["reconnected"][0]
    assert reconnect == {"step": "reconnected", "same_token": True, "pairing_code_again": False}
    assert sales["js-sale-after-reconnect"]["success"] is True

    # the sandbox's own records agree with what the SDK reported
    [sale1] = _v3(terminal_server, "js-sale-1")
    assert sale1["id"] == first["payment"]["id"]
    assert [r["amount"] for r in sale1["refunds"]["elements"]] == [400]
    assert [p["result"] for p in _v3(terminal_server, "js-sale-2")] == ["VOIDED"]
    assert [p["result"] for p in _v3(terminal_server, "js-sale-declined")] == ["FAIL"]
    assert len(_v3(terminal_server, "js-sale-after-reconnect")) == 1
    events = terminal_server.sandbox.state.events.list("terminal_paired")
    assert len(events) == 3  # first pairing, the SDK's own reconnect, the fresh connector


def test_sale_over_wss_trusting_the_generated_ca(
    remote_pay_sdk: NodePeer, terminal_server_tls: SandboxServer, tmp_path: Path
) -> None:
    terminal = terminal_server_tls.terminal
    assert terminal is not None
    assert terminal.certificate is not None
    ca = terminal.certificate.write(tmp_path)["ca"]
    assert terminal_server_tls.terminal_url is not None
    assert terminal_server_tls.terminal_url.startswith("wss://")
    result = _run(remote_pay_sdk, terminal_server_tls, "sale", NODE_EXTRA_CA_CERTS=str(ca))
    [sale] = [s for s in result["steps"] if s["step"] == "sale"]
    assert sale["response"]["success"] is True
    assert [p["id"] for p in _v3(terminal_server_tls, "js-wss-sale")] == [
        sale["response"]["payment"]["id"]
    ]


def test_cloud_pay_display_sale(remote_pay_sdk: NodePeer, terminal_server: SandboxServer) -> None:
    """The SDK's cloud path: remote_pay alert, the proxy's OPTIONS, the websocket with
    the OAuth token as sub-protocol, no pairing."""
    creds = terminal_server.credentials
    terminal = terminal_server.terminal
    assert terminal is not None
    result = _run(
        remote_pay_sdk,
        terminal_server,
        "cloud",
        CLOVER_MERCHANT_ID=creds.merchant_id,
        CLOVER_ACCESS_TOKEN=creds.access_token,
        CLOVER_DEVICE_ID=terminal.terminal.settings.device_id,
    )
    steps = result["steps"]
    http_calls = [(s["method"], s["path"]) for s in steps if s["step"] == "http"]
    assert ("POST", f"/v2/merchant/{creds.merchant_id}/remote_pay") in http_calls
    assert ("OPTIONS", "/support/remote_pay/cs") in http_calls
    [ready] = [s for s in steps if s["step"] == "ready"]
    assert ready["merchantInfo"]["merchantID"] == creds.merchant_id
    [sale] = [s for s in steps if s["step"] == "sale"]
    assert sale["response"]["success"] is True
    assert {"step": "pairing_seen", "value": False} in steps
    assert [p["id"] for p in _v3(terminal_server, "js-cloud-sale")] == [
        sale["response"]["payment"]["id"]
    ]
    alerts = terminal_server.sandbox.state.events.list("terminal_cloud_alert")
    assert alerts
    assert alerts[0]["silent"] is True
