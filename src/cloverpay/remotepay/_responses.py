"""What the connector answers: Clover's response objects, and how device messages map
to them (the JS SDK's mapping, spec §6 and §7)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ._recovery import OperationResolution, PaymentResolution
from .protocol import (
    Authorization,
    Batch,
    CardData,
    Credit,
    FinishCancel,
    FinishOk,
    Payment,
    PendingPaymentEntry,
    Printer,
    Refund,
    RefundResponse,
    RequestInfo,
    Signature,
    TxStartResponse,
    TxStartResponseResult,
    VaultedCard,
)

__all__ = [
    "AuthResponse",
    "CapturePreAuthResponse",
    "CloseoutResponse",
    "CustomActivityResponse",
    "IncrementPreAuthResponse",
    "ManualRefundResponse",
    "PreAuthResponse",
    "PrintJobStatusResponse",
    "ReadCardDataResponse",
    "RefundPaymentResponse",
    "ResetDeviceResponse",
    "Response",
    "ResponseCode",
    "RetrieveDeviceStatusResponse",
    "RetrievePaymentResponse",
    "RetrievePendingPaymentsResponse",
    "RetrievePrintersResponse",
    "SaleResponse",
    "TipAdjustAuthResponse",
    "TransactionResponse",
    "VaultCardResponse",
    "VoidPaymentResponse",
]

NO_INFO = "No extended information provided."


class ResponseCode(enum.StrEnum):
    """SUCCESS processed; FAIL bad input or failure; UNSUPPORTED merchant configuration;
    CANCEL cancelled (may succeed if resubmitted); ERROR unexpected / not connected."""

    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    UNSUPPORTED = "UNSUPPORTED"
    CANCEL = "CANCEL"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    success: bool
    result: ResponseCode
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionResponse(Response):
    payment: Payment | None = None
    signature: Signature | None = field(default=None, repr=False)
    is_sale: bool = False
    is_auth: bool = False
    is_pre_auth: bool = False
    recovery: PaymentResolution | None = None
    """Set when the device's answer was lost and the outcome was recovered by lookup
    (``payment`` then comes from the lookup; no signature)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleResponse(TransactionResponse):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResponse(TransactionResponse):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class PreAuthResponse(TransactionResponse):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualRefundResponse(Response):
    credit: Credit | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundPaymentResponse(Response):
    order_id: str | None = None
    payment_id: str | None = None
    refund: Refund | None = None
    recovery: OperationResolution | None = None
    """Set when the device's answer was lost and the outcome was recovered by lookup."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidPaymentResponse(Response):
    payment_id: str | None = None
    payment: Payment | None = None
    recovery: OperationResolution | None = None
    """Set when the device's answer was lost and the outcome was recovered by lookup."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TipAdjustAuthResponse(Response):
    payment_id: str | None = None
    tip_amount: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturePreAuthResponse(Response):
    payment_id: str | None = None
    amount: int | None = None
    tip_amount: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementPreAuthResponse(Response):
    authorization: Authorization | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseoutResponse(Response):
    batch: Batch | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievePaymentResponse(Response):
    external_payment_id: str | None = None
    query_status: str | None = None
    payment: Payment | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievePrintersResponse(Response):
    printers: list[Printer] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintJobStatusResponse(Response):
    print_request_id: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievePendingPaymentsResponse(Response):
    pending_payments: list[PendingPaymentEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrieveDeviceStatusResponse(Response):
    state: str | None = None
    substate: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetDeviceResponse(Response):
    state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadCardDataResponse(Response):
    card_data: CardData | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class VaultCardResponse(Response):
    card: VaultedCard | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomActivityResponse(Response):
    action: str | None = None
    payload: str | None = None


_KIND = {
    RequestInfo.SALE: (SaleResponse, "Sale"),
    RequestInfo.AUTH: (AuthResponse, "Auth"),
    RequestInfo.PREAUTH: (PreAuthResponse, "PreAuth"),
}


def status_code(status: str | None) -> ResponseCode:
    """Device ``status`` (ResultStatus) → ResponseCode; missing means FAIL."""
    if status in ("SUCCESS", "FAIL", "CANCEL"):
        return ResponseCode(status)
    return ResponseCode.FAIL


def tx_start_rejected(info: RequestInfo, msg: TxStartResponse, external_id: str | None) -> Response:
    """A TX_START the device refused (spec §6.1 failure endings)."""
    if msg.result is TxStartResponseResult.DUPLICATE:
        result, reason = ResponseCode.CANCEL, "CANCEL"
        message: str | None = (
            f"The provided transaction id of {external_id} has already been processed "
            "and cannot be resubmitted."
        )
    else:
        result, reason, message = ResponseCode.FAIL, msg.reason or "FAIL", msg.message
    return _cancelled_shape(info, result, reason, message)


def _cancelled_shape(
    info: RequestInfo, result: ResponseCode, reason: str, message: str | None
) -> Response:
    if info in _KIND:
        return _KIND[info][0](success=False, result=result, reason=reason, message=message)
    if info is RequestInfo.CREDIT:
        return ManualRefundResponse(success=False, result=result, reason=reason, message=message)
    return RefundPaymentResponse(success=False, result=result, reason=reason, message=message)


def finish_cancel(
    info: RequestInfo, msg: FinishCancel, refund_response: RefundResponse | None = None
) -> Response:
    if info is RequestInfo.REFUND and refund_response is not None:
        ok = refund_response.code == "SUCCESS"
        return RefundPaymentResponse(
            success=ok,
            result=ResponseCode.SUCCESS if ok else ResponseCode.FAIL,
            reason=refund_response.reason or ("SUCCESS" if ok else "FAIL"),
            message=refund_response.message or NO_INFO,
            order_id=refund_response.order_id,
            payment_id=refund_response.payment_id,
            refund=refund_response.refund,
        )
    name = {
        RequestInfo.SALE: "Sale",
        RequestInfo.AUTH: "Auth",
        RequestInfo.PREAUTH: "PreAuth",
        RequestInfo.CREDIT: "Manual Refund",
    }.get(info, "Refund")
    return _cancelled_shape(
        info, ResponseCode.CANCEL, "Request Canceled", f"The {name} Request was canceled."
    )


def infer_request_info(msg: FinishOk | FinishCancel) -> RequestInfo:
    """What an answer nobody waits for any more belongs to (echoed, or by content)."""
    if msg.request_info is not None:
        return msg.request_info
    if isinstance(msg, FinishOk) and msg.credit is not None:
        return RequestInfo.CREDIT
    if isinstance(msg, FinishOk) and msg.refund is not None:
        return RequestInfo.REFUND
    return RequestInfo.SALE


def finish_ok(info: RequestInfo, msg: FinishOk) -> Response:
    """The response class follows the request (``info``), never the peer's content."""
    if info is RequestInfo.CREDIT:
        return ManualRefundResponse(
            success=True,
            result=ResponseCode.SUCCESS,
            reason="SUCCESS",
            message=NO_INFO,
            credit=msg.credit,
        )
    if info is RequestInfo.REFUND:
        refund = msg.refund
        return RefundPaymentResponse(
            success=True,
            result=ResponseCode.SUCCESS,
            reason="SUCCESS",
            message=NO_INFO,
            order_id=refund.order_ref.id if refund and refund.order_ref else None,
            payment_id=refund.payment.id if refund and refund.payment else None,
            refund=refund,
        )
    payment = msg.payment
    tx_type = payment.card_transaction.type if payment and payment.card_transaction else None
    result = payment.result if payment else None
    cls = _KIND.get(info, (SaleResponse, "Sale"))[0]
    return cls(
        success=True,
        result=ResponseCode.SUCCESS,
        reason="SUCCESS",
        message=NO_INFO,
        payment=payment,
        signature=msg.signature,
        is_sale=tx_type == "AUTH" and result == "SUCCESS",
        is_auth=tx_type == "PREAUTH" and result == "SUCCESS",
        is_pre_auth=tx_type == "PREAUTH" and result == "AUTH",
    )
