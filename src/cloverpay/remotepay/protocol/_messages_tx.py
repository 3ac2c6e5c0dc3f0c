"""Transaction payloads: TX_START … FINISH_OK / FINISH_CANCEL and what comes between."""

from __future__ import annotations

from typing import Any, ClassVar

from ._enums import KeyPress, RequestInfo, TxStartResponseResult, TxState, UiDirection, VoidReason
from ._message import Message
from ._methods import Method
from ._objects import Challenge, Credit, InputOption, PayIntent, Payment, Refund, Signature

__all__ = [
    "ConfirmPaymentMessage",
    "FinishCancel",
    "FinishOk",
    "KeyPressMessage",
    "PaymentConfirmed",
    "PaymentRejected",
    "SignatureVerified",
    "TipAdded",
    "TxStart",
    "TxStartResponse",
    "TxStateMessage",
    "UiStateMessage",
    "VerifySignature",
]


class TxStart(Message):
    """P→D: start a sale / auth / preauth / manual refund (``request_info``)."""

    METHOD: ClassVar[Method] = Method.TX_START
    VERSION: ClassVar[int] = 2
    pay_intent: PayIntent
    order: dict[str, Any] | None = None
    request_info: RequestInfo | None = None


class TxStartResponse(Message):
    """D→P: the device took (SUCCESS) or refused the TX_START."""

    METHOD: ClassVar[Method] = Method.TX_START_RESPONSE
    result: TxStartResponseResult
    success: bool | None = None
    external_payment_id: str | None = None
    request_info: RequestInfo | None = None
    reason: str | None = None
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.result is TxStartResponseResult.SUCCESS


class TxStateMessage(Message):
    METHOD: ClassVar[Method] = Method.TX_STATE
    tx_state: TxState


class UiStateMessage(Message):
    """D→P: a screen entered or left (``ui_state`` is an open set of names)."""

    METHOD: ClassVar[Method] = Method.UI_STATE
    ui_state: str
    ui_text: str | None = None
    ui_direction: UiDirection | None = None
    input_options: list[InputOption] | None = None


class KeyPressMessage(Message):
    """P→D: press a key on the device (ESC cancels a transaction)."""

    METHOD: ClassVar[Method] = Method.KEY_PRESS
    key_press: KeyPress


class ConfirmPaymentMessage(Message):
    """D→P: the device asks the POS to accept or reject challenges on a payment."""

    METHOD: ClassVar[Method] = Method.CONFIRM_PAYMENT_MESSAGE
    payment: Payment | None = None
    challenges: list[Challenge] | None = None


class PaymentConfirmed(Message):
    METHOD: ClassVar[Method] = Method.PAYMENT_CONFIRMED
    payment: Payment


class PaymentRejected(Message):
    METHOD: ClassVar[Method] = Method.PAYMENT_REJECTED
    payment: Payment
    reason: VoidReason | None = None


class VerifySignature(Message):
    METHOD: ClassVar[Method] = Method.VERIFY_SIGNATURE
    payment: Payment | None = None
    signature: Signature | None = None


class SignatureVerified(Message):
    METHOD: ClassVar[Method] = Method.SIGNATURE_VERIFIED
    payment: Payment
    verified: bool


class TipAdded(Message):
    METHOD: ClassVar[Method] = Method.TIP_ADDED
    tip_amount: int


class FinishOk(Message):
    """D→P: the transaction ended with a payment, a credit or a refund."""

    METHOD: ClassVar[Method] = Method.FINISH_OK
    payment: Payment | None = None
    credit: Credit | None = None
    refund: Refund | None = None
    signature: Signature | None = None
    request_info: RequestInfo | None = None


class FinishCancel(Message):
    """D→P: the transaction ended without money moving (cancel or decline)."""

    METHOD: ClassVar[Method] = Method.FINISH_CANCEL
    request_info: RequestInfo | None = None
