"""Payment maintenance payloads: tip adjust, capture, increment, void, refund, closeout,
retrieve payment / pending payments."""

from __future__ import annotations

from typing import ClassVar

from ._enums import QueryStatus, ResultStatus, VoidReason
from ._message import Message
from ._methods import Method
from ._objects import Authorization, Batch, Payment, PendingPaymentEntry, Refund

__all__ = [
    "CapturePreAuth",
    "CapturePreAuthResponse",
    "CloseoutRequest",
    "CloseoutResponse",
    "IncrementPreAuthRequest",
    "IncrementPreAuthResponse",
    "RefundRequest",
    "RefundResponse",
    "RetrievePaymentRequest",
    "RetrievePaymentResponse",
    "RetrievePendingPayments",
    "RetrievePendingPaymentsResponse",
    "TipAdjust",
    "TipAdjustResponse",
    "VoidPayment",
    "VoidPaymentResponse",
]


class TipAdjust(Message):
    METHOD: ClassVar[Method] = Method.TIP_ADJUST
    payment_id: str
    tip_amount: int
    order_id: str | None = None


class TipAdjustResponse(Message):
    METHOD: ClassVar[Method] = Method.TIP_ADJUST_RESPONSE
    success: bool | None = None
    amount: int | None = None
    payment_id: str | None = None
    order_id: str | None = None
    reason: str | None = None
    message: str | None = None


class CapturePreAuth(Message):
    METHOD: ClassVar[Method] = Method.CAPTURE_PREAUTH
    VERSION: ClassVar[int] = 1
    payment_id: str
    amount: int
    tip_amount: int | None = None


class CapturePreAuthResponse(Message):
    METHOD: ClassVar[Method] = Method.CAPTURE_PREAUTH_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    message: str | None = None
    payment_id: str | None = None
    amount: int | None = None
    tip_amount: int | None = None


class IncrementPreAuthRequest(Message):
    METHOD: ClassVar[Method] = Method.INCREMENT_PREAUTH_REQUEST
    VERSION: ClassVar[int] = 1
    payment_id: str
    amount: int


class IncrementPreAuthResponse(Message):
    METHOD: ClassVar[Method] = Method.INCREMENT_PREAUTH_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    authorization: Authorization | None = None


class VoidPayment(Message):
    """P→D. Sent with inner version 3 when the device supports VOID_PAYMENT_RESPONSE
    (``inner_version=3`` on send); otherwise the ACK completes the void."""

    METHOD: ClassVar[Method] = Method.VOID_PAYMENT
    payment: Payment
    void_reason: VoidReason | None = None
    disable_clover_printing: bool | None = None
    disable_receipt_selection: bool | None = None


class VoidPaymentResponse(Message):
    METHOD: ClassVar[Method] = Method.VOID_PAYMENT_RESPONSE
    payment: Payment | None = None
    void_reason: VoidReason | None = None
    status: ResultStatus | None = None
    reason: str | None = None
    message: str | None = None


class RefundRequest(Message):
    """P→D. ``full_refund=True`` lets ``amount`` be omitted."""

    METHOD: ClassVar[Method] = Method.REFUND_REQUEST
    VERSION: ClassVar[int] = 2
    payment_id: str
    order_id: str | None = None
    amount: int | None = None
    full_refund: bool | None = None
    disable_clover_printing: bool | None = None
    disable_receipt_selection: bool | None = None


class RefundResponse(Message):
    """D→P, before the FINISH_OK/FINISH_CANCEL that ends a refund."""

    METHOD: ClassVar[Method] = Method.REFUND_RESPONSE
    order_id: str | None = None
    payment_id: str | None = None
    refund: Refund | None = None
    code: ResultStatus | None = None
    reason: str | None = None
    message: str | None = None


class CloseoutRequest(Message):
    METHOD: ClassVar[Method] = Method.CLOSEOUT_REQUEST
    allow_open_tabs: bool | None = None
    batch_id: str | None = None


class CloseoutResponse(Message):
    METHOD: ClassVar[Method] = Method.CLOSEOUT_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    batch: Batch | None = None


class RetrievePendingPayments(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_PENDING_PAYMENTS


class RetrievePendingPaymentsResponse(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_PENDING_PAYMENTS_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    pending_payment_entries: list[PendingPaymentEntry] | None = None


class RetrievePaymentRequest(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_PAYMENT_REQUEST
    external_payment_id: str


class RetrievePaymentResponse(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_PAYMENT_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    message: str | None = None
    external_payment_id: str | None = None
    query_status: QueryStatus | None = None
    payment: Payment | None = None
