"""Several emulated terminals of one merchant behind one port: each is its own device
(id, pairing, transaction, scripts) and all record into the same merchant state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cloverpay.remotepay import CloverConnector, ConnectorConfig, ResponseCode, SaleRequest
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox._platform import PlatformStore
from cloverpay.sandbox.terminal import CustomerScript, TerminalFarm

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=21)
    yield sb
    sb.close()


def cfg(url: str) -> ConnectorConfig:
    return ConnectorConfig(
        url=url,
        remote_application_id="com.example.tests.pos:1.0",
        allow_plain_ws=True,
        heartbeat_interval=None,
        request_timeout=20,
    )


async def test_each_device_sells_on_its_own(sandbox: Sandbox) -> None:
    async with TerminalFarm(sandbox, devices=3) as farm:
        farm.terminals[1].push_script(CustomerScript(outcome="decline"))
        async with (
            CloverConnector(cfg(farm.url(0))) as a,
            CloverConnector(cfg(farm.url(1))) as b,
            CloverConnector(cfg(farm.url(2))) as c,
        ):
            infos = [x.merchant_info for x in (a, b, c)]
            results = await asyncio.gather(
                a.sale(SaleRequest(amount=100, external_id="farm-a")),
                b.sale(SaleRequest(amount=200, external_id="farm-b")),
                c.sale(SaleRequest(amount=300, external_id="farm-c")),
            )
    assert [i.serial for i in infos if i] == ["C0FARM000000", "C0FARM000001", "C0FARM000002"]
    assert [r.result for r in results] == [
        ResponseCode.SUCCESS,
        ResponseCode.CANCEL,
        ResponseCode.SUCCESS,
    ]
    state = sandbox.state
    with state.lock:
        store = state.domain(PlatformStore)
        mid = state.merchant.merchant_id
        found = {ext: store.by_external(mid, ext) for ext in ("farm-a", "farm-b", "farm-c")}
    assert {ext: [p["result"] for p in ps] for ext, ps in found.items()} == {
        "farm-a": ["SUCCESS"],
        "farm-b": ["FAIL"],
        "farm-c": ["SUCCESS"],
    }
    devices = {ext: ps[0]["device"]["id"] for ext, ps in found.items()}
    assert devices["farm-a"] != devices["farm-c"]
    assert devices["farm-a"] == farm.terminals[0].settings.device_id


async def test_unknown_paths_are_refused(sandbox: Sandbox) -> None:
    async with TerminalFarm(sandbox, devices=2) as farm:
        base = farm.url(0).split("/devices/")[0]
        for path in ("/devices/2/remote_pay", "/remote_pay", "/devices/x/remote_pay"):
            with pytest.raises(InvalidStatus):
                async with connect(base + path):
                    pass
        with pytest.raises(IndexError):
            farm.url(2)
    with pytest.raises(ValueError, match="devices"):
        TerminalFarm(sandbox, devices=0)
