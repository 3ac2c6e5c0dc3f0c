"""How device answers map to Clover's response objects (the JS SDK's mapping)."""

from __future__ import annotations

import pytest

from cloverpay.remotepay import (
    AuthResponse,
    ManualRefundResponse,
    PreAuthResponse,
    RefundPaymentResponse,
    ResponseCode,
    SaleResponse,
)
from cloverpay.remotepay._responses import (
    finish_cancel,
    finish_ok,
    infer_request_info,
    status_code,
    tx_start_rejected,
)
from cloverpay.remotepay.protocol import (
    CardTransaction,
    Credit,
    FinishCancel,
    FinishOk,
    Payment,
    Reference,
    Refund,
    RefundResponse,
    RequestInfo,
    TxStartResponse,
)


def _payment(tx_type: str, result: str) -> Payment:
    return Payment(id="P", result=result, card_transaction=CardTransaction(type=tx_type))


@pytest.mark.parametrize(
    ("info", "payment", "cls", "flags"),
    [
        (RequestInfo.SALE, _payment("AUTH", "SUCCESS"), SaleResponse, (True, False, False)),
        (RequestInfo.AUTH, _payment("PREAUTH", "SUCCESS"), AuthResponse, (False, True, False)),
        (RequestInfo.PREAUTH, _payment("PREAUTH", "AUTH"), PreAuthResponse, (False, False, True)),
    ],
)
def test_finish_ok_payment_flags(
    info: RequestInfo, payment: Payment, cls: type, flags: tuple[bool, bool, bool]
) -> None:
    response = finish_ok(info, FinishOk(payment=payment, request_info=info))
    assert type(response) is cls
    assert (response.is_sale, response.is_auth, response.is_pre_auth) == flags  # type: ignore[attr-defined]
    assert (response.success, response.result, response.reason) == (
        True,
        ResponseCode.SUCCESS,
        "SUCCESS",
    )
    assert response.message == "No extended information provided."


def test_response_class_follows_the_request_not_the_peer() -> None:
    odd = FinishOk(credit=Credit(id="C"), refund=Refund(id="R"))
    assert type(finish_ok(RequestInfo.SALE, odd)) is SaleResponse
    assert type(finish_ok(RequestInfo.REFUND, odd)) is RefundPaymentResponse
    assert type(finish_ok(RequestInfo.CREDIT, FinishOk())) is ManualRefundResponse


def test_refund_ok_takes_ids_from_the_refund() -> None:
    refund = Refund(id="R", order_ref=Reference(id="O"), payment=Reference(id="P"))
    response = finish_ok(RequestInfo.REFUND, FinishOk(refund=refund))
    assert isinstance(response, RefundPaymentResponse)
    assert (response.order_id, response.payment_id) == ("O", "P")


@pytest.mark.parametrize(
    ("info", "text"),
    [
        (RequestInfo.SALE, "The Sale Request was canceled."),
        (RequestInfo.AUTH, "The Auth Request was canceled."),
        (RequestInfo.PREAUTH, "The PreAuth Request was canceled."),
        (RequestInfo.CREDIT, "The Manual Refund Request was canceled."),
        (RequestInfo.REFUND, "The Refund Request was canceled."),
    ],
)
def test_finish_cancel(info: RequestInfo, text: str) -> None:
    response = finish_cancel(info, FinishCancel(request_info=info))
    assert (response.result, response.reason, response.message) == (
        ResponseCode.CANCEL,
        "Request Canceled",
        text,
    )


@pytest.mark.parametrize(("code", "success"), [("SUCCESS", True), ("FAIL", False)])
def test_refund_cancel_reports_the_stored_refund_response(code: str, success: bool) -> None:
    stored = RefundResponse(
        code=code, payment_id="P", reason="PAYMENT_NOT_FOUND" if not success else None
    )
    response = finish_cancel(RequestInfo.REFUND, FinishCancel(), stored)
    assert isinstance(response, RefundPaymentResponse)
    assert response.success is success
    assert response.payment_id == "P"
    if not success:
        assert (response.result, response.reason) == (ResponseCode.FAIL, "PAYMENT_NOT_FOUND")


def test_tx_start_rejections() -> None:
    failed = tx_start_rejected(RequestInfo.SALE, TxStartResponse(result="FAIL"), "e1")
    assert (failed.result, failed.reason) == (ResponseCode.FAIL, "FAIL")
    credit = tx_start_rejected(
        RequestInfo.CREDIT, TxStartResponse(result="ORDER_LOAD", reason="x"), None
    )
    assert isinstance(credit, ManualRefundResponse)
    assert credit.reason == "x"
    refund = tx_start_rejected(RequestInfo.REFUND, TxStartResponse(result="DUPLICATE"), "e2")
    assert isinstance(refund, RefundPaymentResponse)
    assert refund.result is ResponseCode.CANCEL


def test_inference_and_status_codes() -> None:
    assert infer_request_info(FinishOk(credit=Credit(id="C"))) is RequestInfo.CREDIT
    assert infer_request_info(FinishOk(refund=Refund(id="R"))) is RequestInfo.REFUND
    assert infer_request_info(FinishCancel()) is RequestInfo.SALE
    assert infer_request_info(FinishCancel(request_info="AUTH")) is RequestInfo.AUTH
    assert status_code("CANCEL") is ResponseCode.CANCEL
    assert status_code(None) is ResponseCode.FAIL
