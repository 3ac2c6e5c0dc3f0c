"""Device payloads: screens, reset and status, cards, printing, custom activities."""

from __future__ import annotations

from typing import Any, ClassVar

from ._enums import ExternalDeviceState, ExternalDeviceSubState, ResultStatus
from ._message import Message
from ._methods import Method
from ._objects import CardData, Credit, PayIntent, Payment, Printer, Reference, Refund, VaultedCard

__all__ = [
    "ActivityMessageFromActivity",
    "ActivityMessageToActivity",
    "ActivityRequest",
    "ActivityResponse",
    "Break",
    "CardDataRequest",
    "CardDataResponse",
    "GetPrintersRequest",
    "GetPrintersResponse",
    "OpenCashDrawer",
    "PrintCredit",
    "PrintCreditDecline",
    "PrintImage",
    "PrintJobStatusRequest",
    "PrintJobStatusResponse",
    "PrintPayment",
    "PrintPaymentDecline",
    "PrintPaymentMerchantCopy",
    "PrintText",
    "RefundPrintPayment",
    "ResetDeviceResponse",
    "RetrieveDeviceStatusRequest",
    "RetrieveDeviceStatusResponse",
    "ShowThankYouScreen",
    "ShowWelcomeScreen",
    "TerminalMessage",
    "VaultCard",
    "VaultCardResponse",
]


class TerminalMessage(Message):
    """P→D: show a text on the device (showMessage)."""

    METHOD: ClassVar[Method] = Method.TERMINAL_MESSAGE
    text: str


class ShowWelcomeScreen(Message):
    METHOD: ClassVar[Method] = Method.SHOW_WELCOME_SCREEN


class ShowThankYouScreen(Message):
    METHOD: ClassVar[Method] = Method.SHOW_THANK_YOU_SCREEN


class Break(Message):
    """P→D: reset the device (resetDevice)."""

    METHOD: ClassVar[Method] = Method.BREAK


class ResetDeviceResponse(Message):
    METHOD: ClassVar[Method] = Method.RESET_DEVICE_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    state: ExternalDeviceState | None = None


class RetrieveDeviceStatusRequest(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_DEVICE_STATUS_REQUEST
    send_last_message: bool | None = None


class RetrieveDeviceStatusResponse(Message):
    METHOD: ClassVar[Method] = Method.RETRIEVE_DEVICE_STATUS_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    state: ExternalDeviceState | None = None
    substate: ExternalDeviceSubState | None = None
    data: dict[str, Any] | None = None


class CardDataRequest(Message):
    """P→D ``CARD_DATA`` (readCardData): ``pay_intent.transaction_type`` is DATA."""

    METHOD: ClassVar[Method] = Method.CARD_DATA
    pay_intent: PayIntent


class CardDataResponse(Message):
    METHOD: ClassVar[Method] = Method.CARD_DATA_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    card_data: CardData | None = None


class VaultCard(Message):
    METHOD: ClassVar[Method] = Method.VAULT_CARD
    card_entry_methods: int | None = None
    single_use: bool | None = None


class VaultCardResponse(Message):
    METHOD: ClassVar[Method] = Method.VAULT_CARD_RESPONSE
    status: ResultStatus | None = None
    reason: str | None = None
    token_type: str | None = None
    card: VaultedCard | None = None


class PrintText(Message):
    METHOD: ClassVar[Method] = Method.PRINT_TEXT
    text_lines: list[str]
    external_print_job_id: str | None = None
    printer: Reference | None = None


class PrintImage(Message):
    """P→D. With envelope version 2 the PNG (base64) travels as the attachment and
    ``png`` is null; with version 1 it is in ``png``."""

    METHOD: ClassVar[Method] = Method.PRINT_IMAGE
    png: str | None = None
    external_print_job_id: str | None = None
    printer: Reference | None = None


class PrintJobStatusRequest(Message):
    METHOD: ClassVar[Method] = Method.PRINT_JOB_STATUS_REQUEST
    external_print_job_id: str


class PrintJobStatusResponse(Message):
    METHOD: ClassVar[Method] = Method.PRINT_JOB_STATUS_RESPONSE
    external_print_job_id: str | None = None
    status: str | None = None


class GetPrintersRequest(Message):
    METHOD: ClassVar[Method] = Method.GET_PRINTERS_REQUEST
    category: str | None = None


class GetPrintersResponse(Message):
    METHOD: ClassVar[Method] = Method.GET_PRINTERS_RESPONSE
    printers: list[Printer] | None = None


class OpenCashDrawer(Message):
    METHOD: ClassVar[Method] = Method.OPEN_CASH_DRAWER
    reason: str | None = None
    printer: Reference | None = None


class PrintPayment(Message):
    """D→P: print this payment receipt yourself (Clover printing disabled)."""

    METHOD: ClassVar[Method] = Method.PRINT_PAYMENT
    payment: Payment | None = None
    order: dict[str, Any] | None = None


class PrintPaymentDecline(Message):
    METHOD: ClassVar[Method] = Method.PRINT_PAYMENT_DECLINE
    payment: Payment | None = None
    reason: str | None = None


class PrintPaymentMerchantCopy(Message):
    METHOD: ClassVar[Method] = Method.PRINT_PAYMENT_MERCHANT_COPY
    payment: Payment | None = None


class PrintCredit(Message):
    METHOD: ClassVar[Method] = Method.PRINT_CREDIT
    credit: Credit | None = None


class PrintCreditDecline(Message):
    METHOD: ClassVar[Method] = Method.PRINT_CREDIT_DECLINE
    credit: Credit | None = None
    reason: str | None = None


class RefundPrintPayment(Message):
    METHOD: ClassVar[Method] = Method.REFUND_PRINT_PAYMENT
    payment: Payment | None = None
    refund: Refund | None = None
    order: dict[str, Any] | None = None


class ActivityRequest(Message):
    """P→D: start a custom activity; ``payload`` is the activity's own string."""

    METHOD: ClassVar[Method] = Method.ACTIVITY_REQUEST
    action: str
    payload: str | None = None
    non_blocking: bool | None = None
    force_launch: bool | None = None


class ActivityResponse(Message):
    """D→P: ``result_code == -1`` (Android RESULT_OK) means success."""

    METHOD: ClassVar[Method] = Method.ACTIVITY_RESPONSE
    action: str | None = None
    result_code: int | None = None
    payload: str | None = None
    fail_reason: str | None = None


class ActivityMessageToActivity(Message):
    METHOD: ClassVar[Method] = Method.ACTIVITY_MESSAGE_TO_ACTIVITY
    action: str | None = None
    payload: str | None = None


class ActivityMessageFromActivity(Message):
    METHOD: ClassVar[Method] = Method.ACTIVITY_MESSAGE_FROM_ACTIVITY
    action: str | None = None
    payload: str | None = None
