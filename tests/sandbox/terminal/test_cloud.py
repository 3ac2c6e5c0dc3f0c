"""Cloud Pay Display (spec §1.2): alert endpoint, proxy checks, no pairing."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from cloverpay.remotepay.protocol import (
    CLOUD_PACKAGE_NAME,
    DiscoveryRequest,
    DiscoveryResponse,
    FinishOk,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import CLOUD_PATH, Terminal, TerminalServer

from .conftest import v3_payments
from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def _alert(http: httpx.AsyncClient, sandbox: Sandbox, terminal: Terminal) -> dict[str, str]:
    mid = sandbox.state.merchant.merchant_id
    resp = await http.post(
        f"/v2/merchant/{mid}/remote_pay",
        json={"deviceId": terminal.settings.device_id.replace("-", ""), "isSilent": True},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, str] = resp.json()
    return body


async def test_cloud_sale_without_pairing(
    server: TerminalServer, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    alert = await _alert(http, sandbox, terminal)
    assert alert["sent"] is True  # type: ignore[comparison-overlap]
    assert alert["host"] == server.url.removesuffix("/remote_pay")
    url = f"{alert['host']}{CLOUD_PATH}?token={alert['token']}&friendlyId=front&forceConnect=false"
    options_url = url.replace("ws://", "http://")
    token = sandbox.state.merchant.access_token
    async with httpx.AsyncClient() as raw:
        before = await raw.options(options_url, headers={"authorization": f"Bearer {token}"})
        assert before.status_code == 200
        assert "x-clover-connected-id" not in before.headers

        pos = await MiniPos.connect(url, oauth_token=token)
        assert pos.ws.subprotocol == token
        await pos.send(DiscoveryRequest())  # no pairing on the cloud path
        info = await pos.until(DiscoveryResponse)
        assert info.ready is True
        await pos.send(sale(900, "cloud-1"))
        finish = await pos.until(FinishOk)
        assert finish.payment is not None
        assert [p["id"] for p in await v3_payments(http, sandbox, "cloud-1")] == [finish.payment.id]

        during = await raw.options(options_url, headers={"authorization": f"Bearer {token}"})
        assert during.headers["x-clover-connected-id"] == "front"
        await pos.close()
    frames = sandbox.state.events.list("terminal_received")
    assert "PAIRING_REQUEST" not in [e["method"] for e in frames]
    assert CLOUD_PACKAGE_NAME == "com.clover.remote.protocol.websocket"


async def test_cloud_proxy_refuses_bad_tokens(
    server: TerminalServer, terminal: Terminal, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    alert = await _alert(http, sandbox, terminal)
    good = sandbox.state.merchant.access_token
    base = f"{alert['host']}{CLOUD_PATH}"
    with pytest.raises(InvalidStatus) as bad_proxy_token:
        await MiniPos.connect(f"{base}?token=nope", oauth_token=good)
    assert bad_proxy_token.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as bad_oauth:
        await MiniPos.connect(f"{base}?token={alert['token']}", oauth_token="not-a-token")
    assert bad_oauth.value.response.status_code == 401


async def test_cloud_alert_checks(
    server: TerminalServer, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    mid = sandbox.state.merchant.merchant_id
    unknown = await http.post(f"/v2/merchant/{mid}/remote_pay", json={"deviceId": "NOPE"})
    assert unknown.status_code == 404
    missing = await http.post(f"/v2/merchant/{mid}/remote_pay", json={})
    assert missing.status_code == 400
    assert "deviceId" in missing.text
    other = await http.post("/v2/merchant/OTHERMERCHANT/remote_pay", json={"deviceId": "x"})
    assert other.status_code == 401
    devices = await http.get(f"/v3/merchants/{mid}/devices")
    assert server.terminal.settings.serial in [d["serial"] for d in devices.json()["elements"]]
