"""Refund, void, auth + tip adjust, preauth + increment + capture, manual refund,
closeout, lookups, reset, card reads, printing — over a real websocket."""

from __future__ import annotations

import httpx
import pytest

from cloverpay.remotepay.protocol import (
    Break,
    CapturePreAuth,
    CapturePreAuthResponse,
    CardDataRequest,
    CardDataResponse,
    CloseoutRequest,
    CloseoutResponse,
    FinishCancel,
    FinishOk,
    GetPrintersRequest,
    GetPrintersResponse,
    IncrementPreAuthRequest,
    IncrementPreAuthResponse,
    PayIntent,
    Payment,
    PrintJobStatusRequest,
    PrintJobStatusResponse,
    PrintText,
    QueryStatus,
    RefundRequest,
    RefundResponse,
    RequestInfo,
    ResetDeviceResponse,
    ResultStatus,
    RetrieveDeviceStatusRequest,
    RetrieveDeviceStatusResponse,
    RetrievePaymentRequest,
    RetrievePaymentResponse,
    RetrievePendingPayments,
    RetrievePendingPaymentsResponse,
    TerminalMessage,
    TipAdjust,
    TipAdjustResponse,
    TransactionType,
    TxStartResponse,
    VaultCard,
    VaultCardResponse,
    VoidPayment,
    VoidPaymentResponse,
    VoidReason,
)
from cloverpay.sandbox import Notification, Sandbox
from cloverpay.sandbox.terminal import CustomerScript, Terminal

from .conftest import v3_payments
from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def _sale(pos: MiniPos, amount: int, ext: str, **kw: object) -> Payment:
    await pos.send(sale(amount, ext, **kw))  # type: ignore[arg-type]
    finish = await pos.until(FinishOk)
    assert finish.payment is not None
    return finish.payment


async def test_partial_then_full_refund(
    pos: MiniPos, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    notes: list[Notification] = []
    sandbox.state.subscribe(notes.append)
    payment = await _sale(pos, 1000, "refund-1")
    assert payment.order is not None
    await pos.send(RefundRequest(payment_id=payment.id, order_id=payment.order.id, amount=400))
    response = await pos.until(RefundResponse)
    assert response.code is ResultStatus.SUCCESS
    finish = await pos.until(FinishOk)
    assert finish.request_info == "REFUND"
    assert finish.refund is not None
    assert finish.refund.amount == 400
    assert finish.refund.order_ref is not None
    assert finish.refund.order_ref.id == payment.order.id

    await pos.send(RefundRequest(payment_id=payment.id, amount=700))  # more than is left
    failed = await pos.until(RefundResponse)
    assert failed.code is ResultStatus.FAIL
    assert (await pos.until(FinishCancel)).request_info == "REFUND"

    await pos.send(RefundRequest(payment_id=payment.id, full_refund=True))
    rest = await pos.until(FinishOk)
    assert rest.refund is not None
    assert rest.refund.amount == 600

    [v3] = await v3_payments(http, sandbox, "refund-1")
    assert [r["amount"] for r in v3["refunds"]["elements"]] == [400, 600]
    assert [n.kind for n in notes if n.object_id == payment.id] == ["CREATE", "UPDATE", "UPDATE"]


async def test_refund_of_unknown_payment(pos: MiniPos) -> None:
    await pos.send(RefundRequest(payment_id="NOSUCHPAYMENT", amount=100))
    response = await pos.until(RefundResponse)
    assert response.code is ResultStatus.FAIL
    assert response.reason == "PAYMENT_NOT_FOUND"
    await pos.until(FinishCancel)


async def test_void_with_and_without_void_payment_response(
    pos: MiniPos, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    first = await _sale(pos, 2599, "void-1")
    await pos.send(VoidPayment(payment=first, void_reason=VoidReason.USER_CANCEL), inner_version=3)
    voided = await pos.until(VoidPaymentResponse)
    assert voided.status is ResultStatus.SUCCESS
    assert voided.payment is not None
    assert voided.payment.result == "VOIDED"
    [v3] = await v3_payments(http, sandbox, "void-1")
    assert v3["result"] == "VOIDED"

    # an older SDK sends version 0 and takes the ACK as the answer (spec §4.3)
    second = await _sale(pos, 100, "void-2")
    mid = await pos.send(VoidPayment(payment=second, void_reason=VoidReason.USER_CANCEL))
    await pos.send(RetrievePaymentRequest(external_payment_id="void-2"))
    found = await pos.until(RetrievePaymentResponse)
    assert mid in pos.acked
    assert pos.methods().count("VOID_PAYMENT_RESPONSE") == 1  # only the version-3 one
    assert found.payment is not None
    assert found.payment.result == "VOIDED"

    # voiding again fails
    await pos.send(VoidPayment(payment=first, void_reason=VoidReason.USER_CANCEL), inner_version=3)
    again = await pos.until(VoidPaymentResponse)
    assert again.status is ResultStatus.FAIL


async def test_auth_then_tip_adjust(
    pos: MiniPos, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    auth = await _sale(pos, 4000, "auth-1", request_info=RequestInfo.AUTH)
    assert auth.card_transaction is not None
    assert auth.card_transaction.type == "PREAUTH"
    assert auth.result == "SUCCESS"
    assert auth.order is not None
    await pos.send(TipAdjust(payment_id=auth.id, order_id=auth.order.id, tip_amount=600))
    adjusted = await pos.until(TipAdjustResponse)
    assert adjusted.success is True
    assert adjusted.amount == 600
    [v3] = await v3_payments(http, sandbox, "auth-1")
    assert v3["tipAmount"] == 600

    sold = await _sale(pos, 100, "sale-no-adjust")
    await pos.send(TipAdjust(payment_id=sold.id, tip_amount=50))
    refused = await pos.until(TipAdjustResponse)
    assert refused.success is False


async def test_preauth_increment_capture(
    pos: MiniPos, sandbox: Sandbox, http: httpx.AsyncClient
) -> None:
    pre = await _sale(pos, 10000, "preauth-1", request_info=RequestInfo.PREAUTH)
    assert pre.result == "AUTH"
    assert pre.card_transaction is not None
    assert pre.card_transaction.type == "PREAUTH"
    await pos.send(IncrementPreAuthRequest(payment_id=pre.id, amount=2500))
    inc = await pos.until(IncrementPreAuthResponse)
    assert inc.status is ResultStatus.SUCCESS
    assert inc.authorization is not None
    assert inc.authorization.amount == 2500
    await pos.send(CapturePreAuth(payment_id=pre.id, amount=11000, tip_amount=1000))
    cap = await pos.until(CapturePreAuthResponse)
    assert cap.status is ResultStatus.SUCCESS
    [v3] = await v3_payments(http, sandbox, "preauth-1")
    assert (v3["result"], v3["amount"], v3["tipAmount"]) == ("SUCCESS", 11000, 1000)

    await pos.send(CapturePreAuth(payment_id=pre.id, amount=1))  # already captured
    assert (await pos.until(CapturePreAuthResponse)).status is ResultStatus.FAIL


async def test_manual_refund_and_closeout(pos: MiniPos) -> None:
    await pos.send(sale(1234, "manual-refund-1", request_info=RequestInfo.CREDIT))
    finish = await pos.until(FinishOk)
    assert finish.credit is not None
    assert finish.credit.amount == 1234
    assert finish.payment is None

    await _sale(pos, 1000, "batch-1")
    second = await _sale(pos, 500, "batch-2")
    await pos.send(VoidPayment(payment=second), inner_version=3)
    await pos.until(VoidPaymentResponse)
    await pos.send(CloseoutRequest(allow_open_tabs=False))
    closed = await pos.until(CloseoutResponse)
    assert closed.status is ResultStatus.SUCCESS
    assert closed.batch is not None
    assert (closed.batch.tx_count, closed.batch.total_batch_amount) == (1, 1000)
    await pos.send(CloseoutRequest())
    empty = await pos.until(CloseoutResponse)
    assert empty.batch is not None
    assert empty.batch.tx_count == 0


async def test_lookups_status_and_reset(pos: MiniPos, terminal: Terminal) -> None:
    await _sale(pos, 700, "lookup-1")
    await pos.send(RetrievePaymentRequest(external_payment_id="lookup-1"))
    found = await pos.until(RetrievePaymentResponse)
    assert found.query_status is QueryStatus.FOUND
    assert found.payment is not None
    assert found.payment.amount == 700
    await pos.send(RetrievePaymentRequest(external_payment_id="never-seen"))
    missing = await pos.until(RetrievePaymentResponse)
    assert (missing.status, missing.query_status) == (ResultStatus.FAIL, QueryStatus.NOT_FOUND)

    await pos.send(RetrieveDeviceStatusRequest(send_last_message=False))
    idle = await pos.until(RetrieveDeviceStatusResponse)
    assert idle.state == "IDLE"
    assert idle.data == {"externalPaymentId": "lookup-1"}

    terminal.push_script(CustomerScript(outcome="never_act"))
    await pos.send(sale(800, "stuck-1"))
    await pos.until(TxStartResponse)
    await pos.send(RetrievePaymentRequest(external_payment_id="stuck-1"))
    assert (await pos.until(RetrievePaymentResponse)).query_status is QueryStatus.IN_PROGRESS
    await pos.send(RetrieveDeviceStatusRequest(send_last_message=False))
    busy = await pos.until(RetrieveDeviceStatusResponse)
    assert busy.state == "WAITING_FOR_CUSTOMER"
    assert busy.data == {"externalPaymentId": "stuck-1"}

    await pos.send(Break())
    await pos.until(FinishCancel)
    reset = await pos.until(ResetDeviceResponse)
    assert reset.state == "IDLE"
    assert terminal.in_flight is None

    await pos.send(RetrievePendingPayments())
    pending = await pos.until(RetrievePendingPaymentsResponse)
    assert pending.status is ResultStatus.SUCCESS
    assert pending.pending_payment_entries == []


async def test_card_data_vault_and_printing(pos: MiniPos, terminal: Terminal) -> None:
    await pos.send(CardDataRequest(pay_intent=PayIntent(transaction_type=TransactionType.DATA)))
    data = await pos.until(CardDataResponse)
    assert data.status is ResultStatus.SUCCESS
    assert data.card_data is not None
    assert data.card_data.pan is None  # never a card number
    assert data.card_data.last4 == "0010"

    await pos.send(VaultCard(card_entry_methods=34567, single_use=False))
    vaulted = await pos.until(VaultCardResponse)
    assert vaulted.card is not None
    assert vaulted.card.token

    await pos.send(PrintText(text_lines=["Line one", "Line two"], external_print_job_id="job-1"))
    await pos.send(PrintJobStatusRequest(external_print_job_id="job-1"))
    assert (await pos.until(PrintJobStatusResponse)).status == "DONE"
    assert terminal.print_jobs["job-1"] == ["Line one", "Line two"]
    await pos.send(GetPrintersRequest())
    printers = await pos.until(GetPrintersResponse)
    assert printers.printers

    await pos.send(TerminalMessage(text="Hello from the POS"))
    await pos.send(RetrievePendingPayments())
    await pos.until(RetrievePendingPaymentsResponse)
    assert terminal.snapshot()["text"] == "Hello from the POS"
