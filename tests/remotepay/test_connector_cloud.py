"""Cloud Pay Display path against an in-test stand-in for Clover's cloud (Starlette +
uvicorn on 127.0.0.1): the notify call, the OPTIONS probe, the websocket with the OAuth
token as sub-protocol, no pairing, and the proxy's RESET / FORCECONNECT."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from cloverpay.remotepay import (
    CloudSettings,
    CloverConnector,
    ConnectorConfig,
    NotReadyError,
    SaleRequest,
)
from cloverpay.remotepay.protocol import (
    CLOUD_PACKAGE_NAME,
    DiscoveryResponse,
    FinishOk,
    Message,
    MessageReceived,
    Method,
    Payment,
    RemotePayProtocol,
    Role,
    TxStart,
    TxStartResponse,
    UntypedMessage,
)

from .test_connector import RAID, Recorder

pytestmark = pytest.mark.anyio
TOKEN = "oauth-access-token-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeCloud:
    connected_id: str | None = None
    notify_status: int = 200
    sent: bool = True
    after_ready: list[Any] = field(default_factory=list)
    notifies: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[dict[str, Any]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    port: int = 0
    second_socket: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def notify(request: Request) -> Response:
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            self.notifies.append(await request.json())
            if self.notify_status != 200:
                return JSONResponse({"message": "nope"}, status_code=self.notify_status)
            host = f"ws://127.0.0.1:{self.port}"
            return JSONResponse({"sent": self.sent, "host": host, "token": "proxy-1"})

        async def probe(request: Request) -> Response:
            headers = {"X-CLOVER-CONNECTED-ID": self.connected_id} if self.connected_id else {}
            return Response(status_code=200, headers=headers)

        async def socket(ws: WebSocket) -> None:
            self.sockets.append(
                {"query": dict(ws.query_params), "subprotocols": ws.scope.get("subprotocols")}
            )
            if len(self.sockets) >= 2:
                self.second_socket.set()
            await ws.accept(subprotocol=TOKEN)
            core = RemotePayProtocol(Role.DEVICE, pairing=False, package_name=CLOUD_PACKAGE_NAME)

            async def send(msg: Message | UntypedMessage) -> None:
                for frame in core.send(msg):
                    await ws.send_text(frame)

            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    text = await ws.receive_text()
                    for event in core.receive_data(text):
                        if not isinstance(event, MessageReceived):
                            continue
                        msg = event.message
                        self.received.append(msg.method.value)
                        if msg.method is Method.DISCOVERY_REQUEST:
                            await send(DiscoveryResponse(ready=True, merchant_id="MIDCLOUD"))
                            for extra in self.after_ready:
                                await send(extra)
                            self.after_ready = []
                        elif isinstance(msg, TxStart):
                            info = msg.request_info
                            await send(TxStartResponse(result="SUCCESS", request_info=info))
                            payment = Payment(id="PCLOUD", amount=msg.pay_intent.amount)
                            await send(FinishOk(payment=payment, request_info=info))

        return Starlette(
            routes=[
                Route("/v2/merchant/{mid}/remote_pay", notify, methods=["POST"]),
                Route("/support/remote_pay/cs", probe, methods=["OPTIONS"]),
                WebSocketRoute("/support/remote_pay/cs", socket),
            ]
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(30):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
                await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            server.should_exit = True
            await task


def cloud_config(url: str, **kw: Any) -> ConnectorConfig:
    settings = CloudSettings(
        merchant_id="MIDCLOUD",
        device_id="c0ffee-00-11",
        access_token=TOKEN,
        friendly_id=kw.pop("friendly_id", "front-desk"),
        force_connect=kw.pop("force", False),
    )
    return ConnectorConfig(
        url=url,
        remote_application_id=RAID,
        allow_plain_ws=True,
        cloud=settings,
        heartbeat_interval=None,
        reconnect_delay=0.05,
        **kw,
    )


async def test_sale_through_the_cloud() -> None:
    cloud = FakeCloud()
    listener = Recorder()
    async with cloud.running() as url, CloverConnector(cloud_config(url), listener) as c:
        response = await c.sale(SaleRequest(amount=1500, external_id="cloud-1"))
    assert response.success
    assert response.payment is not None
    assert response.payment.id == "PCLOUD"
    assert cloud.notifies == [{"deviceId": "c0ffee0011", "isSilent": True}]
    (sock,) = cloud.sockets
    assert sock["query"] == {
        "token": "proxy-1",
        "friendlyId": "front-desk",
        "forceConnect": "false",
    }
    assert sock["subprotocols"] == [TOKEN]
    assert cloud.received[0] == "DISCOVERY_REQUEST"  # no pairing on the cloud path
    assert "PAIRING_REQUEST" not in cloud.received
    assert cloud.received[-1] == "SHUTDOWN"  # sent on close, as the JS SDK does
    assert "code" not in listener.names()


async def test_device_held_by_another_pos_is_refused_without_reconnecting() -> None:
    cloud = FakeCloud(connected_id="other-pos")
    listener = Recorder()
    async with cloud.running() as url:
        c = CloverConnector(cloud_config(url), listener)
        with pytest.raises(NotReadyError):
            await c.connect(timeout=30)
        await c.close()
        forced = CloverConnector(cloud_config(url, force=True))
        await forced.connect(timeout=30)
        await forced.close()
    assert ("error", "AccessDenied") in listener.calls
    assert len(cloud.sockets) == 1  # only the forced connector opened a socket


@pytest.mark.parametrize(("status", "sent"), [(404, True), (200, False)])
async def test_notify_failures(status: int, sent: bool) -> None:
    cloud = FakeCloud(notify_status=status, sent=sent)
    listener = Recorder()
    async with cloud.running() as url:
        c = CloverConnector(cloud_config(url), listener)
        if status == 404:
            with pytest.raises(NotReadyError):
                await c.connect(timeout=30)
        else:  # keeps retrying (the device may wake later): wait for the first report
            await c.connect(wait_ready=False)
            async with asyncio.timeout(30):
                await listener.error_seen.wait()
            assert not c.is_ready
        await c.close()
    assert ("error", "CloudError") in listener.calls
    assert cloud.sockets == []


async def test_proxy_reset_reconnects() -> None:
    cloud = FakeCloud(after_ready=[UntypedMessage(Method.RESET)])
    async with cloud.running() as url, CloverConnector(cloud_config(url)) as c:
        async with asyncio.timeout(30):
            await cloud.second_socket.wait()
        await c.connect(timeout=30)
        response = await c.sale(SaleRequest(amount=100, external_id="cloud-2"))
    assert response.success
    assert len(cloud.sockets) == 2


async def test_forceconnect_interrupts_and_stops() -> None:
    cloud = FakeCloud(after_ready=[UntypedMessage(Method.FORCECONNECT, {"friendlyId": "x"})])
    listener = Recorder()
    async with cloud.running() as url:
        c = CloverConnector(cloud_config(url), listener)
        await c.connect(timeout=30)
        assert c._runner is not None
        async with asyncio.timeout(30):
            await c._runner  # the loop ends by itself: no reconnect after FORCECONNECT
        await c.close()
    assert ("error", "Interrupted") in listener.calls
    assert "disconnected" in listener.names()
    assert len(cloud.sockets) == 1
