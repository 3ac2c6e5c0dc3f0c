"""The connector against the sandbox's emulated terminal over real websockets (ws and
wss): the same path a developer uses before pointing it at a real device."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cloverpay.remotepay import (
    CloverConnector,
    ConnectorConfig,
    MemoryTokenStore,
    OutcomeUnknownError,
    RefundPaymentRequest,
    ResponseCode,
    SaleRequest,
    VoidPaymentRequest,
)
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import CustomerScript, TerminalServer, terminal_for

from .test_connector import RAID, Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=7)
    yield sb
    sb.close()


@pytest.fixture
async def server(sandbox: Sandbox) -> AsyncIterator[TerminalServer]:
    async with TerminalServer(sandbox) as srv:
        yield srv


def cfg(url: str, **kw: object) -> ConnectorConfig:
    return ConnectorConfig(
        url=url,
        remote_application_id=RAID,
        allow_plain_ws=url.startswith("ws:"),
        heartbeat_interval=1.0,
        request_timeout=20.0,
        **kw,  # type: ignore[arg-type]
    )


async def test_sale_refund_void_and_lookup(server: TerminalServer, sandbox: Sandbox) -> None:
    listener = Recorder()
    store = MemoryTokenStore()
    async with CloverConnector(cfg(server.url), listener, token_store=store) as c:
        sale = await c.sale(SaleRequest(amount=2500, tip_amount=300, external_id="sbx-sale-1"))
        assert sale.success, sale
        assert sale.is_sale
        assert sale.payment is not None
        assert sale.payment.order is not None
        refund = await c.refund_payment(
            RefundPaymentRequest(
                payment_id=sale.payment.id, order_id=sale.payment.order.id, amount=1000
            )
        )
        found = await c.retrieve_payment("sbx-sale-1")
        second = await c.sale(SaleRequest(amount=700, external_id="sbx-sale-2"))
        assert second.payment is not None
        void = await c.void_payment(VoidPaymentRequest(payment_id=second.payment.id))
    assert store.load() is not None
    assert "ready" in listener.names()
    assert refund.success, refund
    assert refund.refund is not None
    assert refund.refund.amount == 1000
    assert found.query_status == "FOUND"
    assert found.payment is not None
    assert found.payment.id == sale.payment.id
    assert void.success, void


async def test_decline_and_duplicate_external_id(server: TerminalServer, sandbox: Sandbox) -> None:
    terminal = terminal_for(sandbox.state)
    async with CloverConnector(cfg(server.url)) as c:
        terminal.push_script(CustomerScript(outcome="decline"))
        declined = await c.sale(SaleRequest(amount=777, external_id="sbx-decline-1"))
        ok = await c.sale(SaleRequest(amount=100, external_id="sbx-dup-1"))
        again = await c.sale(SaleRequest(amount=100, external_id="sbx-dup-1"))
    assert declined.result is ResponseCode.CANCEL
    assert ok.success
    assert (again.success, again.result) == (False, ResponseCode.CANCEL)
    assert "sbx-dup-1 has already been processed" in (again.message or "")


async def test_wss_with_the_sandbox_certificate(sandbox: Sandbox, tmp_path: Path) -> None:
    async with TerminalServer(sandbox, tls=True) as srv:
        cert = srv.certificate
        assert cert is not None
        paths = cert.write(tmp_path)
        ca_file = str(paths["ca"])
        async with CloverConnector(cfg(srv.url, ca_file=ca_file)) as c:
            sale = await c.sale(SaleRequest(amount=100, external_id="sbx-tls-1"))
        der = ssl.PEM_cert_to_DER_cert(cert.cert_pem)
        pin = hashlib.sha256(der).hexdigest()
        async with CloverConnector(cfg(srv.url, pinned_sha256=pin)) as c:
            pinned = await c.retrieve_payment("sbx-tls-1")
    assert srv.url.startswith("wss://")
    assert sale.success
    assert pinned.query_status == "FOUND"


async def test_read_card_data_and_vault_card(server: TerminalServer) -> None:
    async with CloverConnector(cfg(server.url)) as c:
        card = await c.read_card_data()
        vaulted = await c.vault_card()
    assert card.success, card
    assert card.card_data is not None
    assert card.card_data.last4
    assert "track" not in repr(card)
    assert vaulted.success, vaulted
    assert vaulted.card is not None
    assert vaulted.card.token
    assert vaulted.card.token not in repr(vaulted)


@pytest.mark.parametrize(("stage", "charged"), [("card_read", False), ("after_auth", True)])
async def test_device_reboot_mid_sale_is_unknown_then_resolved_by_lookup(
    server: TerminalServer, sandbox: Sandbox, stage: str, charged: bool
) -> None:
    """RELIABILITY scenario 8: no automatic re-send; the lookup by externalPaymentId
    tells whether money moved."""
    terminal = terminal_for(sandbox.state)
    listener = Recorder()
    async with CloverConnector(cfg(server.url, reconnect_delay=0.05), listener) as c:
        terminal.push_script(CustomerScript(outcome="reboot_mid_sale", stage=stage))
        with pytest.raises(OutcomeUnknownError) as info:
            await c.sale(SaleRequest(amount=4200, external_id=f"sbx-reboot-{stage}"))
        assert info.value.external_id == f"sbx-reboot-{stage}"
        await c.connect(timeout=10)  # reconnected and re-paired with the stored token
        found = await c.retrieve_payment(f"sbx-reboot-{stage}")
    assert "disconnected" in listener.names()
    assert listener.names().count("code") == 1  # only the first pairing needed a code
    assert (found.query_status == "FOUND") is charged
    assert found.success is charged  # NOT_FOUND answers FAIL, as in the transcript
    if charged:
        assert found.payment is not None
        assert found.payment.amount == 4200
