"""Refunds and voids whose answer is lost (the emulated terminal drops the socket, before
or after acting) are looked up, never re-sent: on the device by the payment's
externalPaymentId, or through the REST API; without evidence, OutcomeUnknownError."""

from __future__ import annotations

from typing import Any

import pytest

from cloverpay.api import AsyncCloverClient
from cloverpay.remotepay import (
    CloverConnector,
    OperationOutcome,
    OutcomeUnknownError,
    RefundPaymentRequest,
    ResponseCode,
    SaleRequest,
    VoidPaymentRequest,
    rest_payment_fetch,
)
from cloverpay.sandbox import SandboxServer
from cloverpay.sandbox.terminal import CustomerScript

from .test_connector import Recorder
from .test_connector_recovery import anyio_backend, cfg, rest, server, terminal

__all__ = ["anyio_backend", "rest", "server"]  # fixtures shared with the sale recovery tests

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def refunds_of(server: SandboxServer, payment_id: str) -> list[dict[str, Any]]:
    state = server.sandbox.state
    with state.lock:
        from cloverpay.sandbox._platform import PlatformStore

        p = state.domain(PlatformStore).payment(state.merchant.merchant_id, payment_id)
    assert p is not None
    return list((p.get("refunds") or {}).get("elements", []))


def result_of(server: SandboxServer, payment_id: str) -> str:
    state = server.sandbox.state
    with state.lock:
        from cloverpay.sandbox._platform import PlatformStore

        p = state.domain(PlatformStore).payment(state.merchant.merchant_id, payment_id)
    assert p is not None
    return str(p["result"])


async def _sale(c: CloverConnector, ext: str, amount: int = 3000) -> str:
    sale = await c.sale(SaleRequest(amount=amount, external_id=ext))
    assert sale.success
    assert sale.payment is not None
    return sale.payment.id


def drops(server: SandboxServer) -> list[dict[str, Any]]:
    return server.sandbox.state.events.list("terminal_drop")


@pytest.mark.parametrize("via", ["device", "rest"])
async def test_refund_made_then_dropped_is_recovered(
    server: SandboxServer, rest: AsyncCloverClient, via: str
) -> None:
    assert server.terminal_url is not None
    listener = Recorder()
    fetch = rest_payment_fetch(rest) if via == "rest" else None
    async with CloverConnector(cfg(server.terminal_url), listener, rest_payment=fetch) as c:
        pid = await _sale(c, f"ref-after-{via}")
        first = await c.refund_payment(RefundPaymentRequest(payment_id=pid, amount=500))
        assert first.success  # an earlier refund of the same amount must not be mistaken
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage="after_auth"))
        ext = f"ref-after-{via}" if via == "device" else None
        resp = await c.refund_payment(
            RefundPaymentRequest(payment_id=pid, amount=500, external_payment_id=ext)
        )
    assert len(drops(server)) == 1  # the socket really dropped after the refund was made
    assert resp.success, resp
    assert resp.recovery is not None
    assert (resp.recovery.outcome, resp.recovery.source) == (OperationOutcome.DONE, via)
    made = refunds_of(server, pid)
    assert len(made) == 2  # never re-sent
    assert resp.refund is not None
    assert resp.refund.id == made[-1]["id"]
    assert listener.responses[-1] is resp


async def test_refund_dropped_before_the_device_acted_is_not_refunded(
    server: SandboxServer,
) -> None:
    assert server.terminal_url is not None
    async with CloverConnector(cfg(server.terminal_url)) as c:
        pid = await _sale(c, "ref-before-1")
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage="card_read"))
        resp = await c.refund_payment(
            RefundPaymentRequest(
                payment_id=pid, full_refund=True, external_payment_id="ref-before-1"
            )
        )
    assert len(drops(server)) == 1
    assert not resp.success
    assert (resp.result, resp.reason) == (ResponseCode.FAIL, "NOT_REFUNDED")
    assert resp.recovery is not None
    assert resp.recovery.outcome is OperationOutcome.NOT_DONE
    assert refunds_of(server, pid) == []


async def test_refund_without_a_view_of_the_payment_stays_unknown(server: SandboxServer) -> None:
    assert server.terminal_url is not None
    async with CloverConnector(cfg(server.terminal_url)) as c:
        pid = await _sale(c, "ref-blind-1")
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage="after_auth"))
        with pytest.raises(OutcomeUnknownError) as lost:
            await c.refund_payment(RefundPaymentRequest(payment_id=pid, amount=700))
    assert lost.value.resolution is not None
    assert lost.value.resolution.unknown
    assert len(refunds_of(server, pid)) == 1  # it happened, but nothing proved it: unknown


@pytest.mark.parametrize(("stage", "voided"), [("after_auth", True), ("card_read", False)])
async def test_void_dropped_is_recovered_through_the_rest_api(
    server: SandboxServer, rest: AsyncCloverClient, stage: str, voided: bool
) -> None:
    assert server.terminal_url is not None
    async with CloverConnector(
        cfg(server.terminal_url), rest_payment=rest_payment_fetch(rest)
    ) as c:
        pid = await _sale(c, f"void-{stage}")
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage=stage))  # type: ignore[arg-type]
        resp = await c.void_payment(VoidPaymentRequest(payment_id=pid))
    assert len(drops(server)) == 1
    assert resp.recovery is not None
    assert resp.recovery.source == "rest"
    assert resp.success is voided
    assert resp.recovery.outcome is (OperationOutcome.DONE if voided else OperationOutcome.NOT_DONE)
    assert result_of(server, pid) == ("VOIDED" if voided else "SUCCESS")


async def test_void_recovered_on_the_device_and_unknown_without_any_view(
    server: SandboxServer,
) -> None:
    assert server.terminal_url is not None
    async with CloverConnector(cfg(server.terminal_url)) as c:
        pid = await _sale(c, "void-dev-1")
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage="after_auth"))
        resp = await c.void_payment(
            VoidPaymentRequest(payment_id=pid, external_payment_id="void-dev-1")
        )
        assert resp.success
        assert resp.recovery is not None
        assert resp.recovery.source == "device"
        other = await _sale(c, "void-dev-2")
        terminal(server).push_script(CustomerScript(outcome="drop_socket", stage="after_auth"))
        with pytest.raises(OutcomeUnknownError):
            await c.void_payment(VoidPaymentRequest(payment_id=other))
    assert result_of(server, other) == "VOIDED"
