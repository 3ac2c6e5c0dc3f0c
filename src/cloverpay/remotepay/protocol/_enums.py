"""Enumerations used in envelopes and payloads, with Clover's own names.

Closed sets (the SDKs know every value) are typed fields: an unknown value from the
peer is a :class:`RemoteProtocolError`. Open sets (``UiState``, card transaction
types: the spec lists them only in part) are plain ``str`` fields; the enums below
name the known values and compare equal to the wire strings.
"""

from __future__ import annotations

import enum
from operator import attrgetter
from typing import TYPE_CHECKING

__all__ = [
    "CardEntryMethod",
    "ChallengeType",
    "DataEntryLocation",
    "ExternalDeviceState",
    "ExternalDeviceSubState",
    "KeyPress",
    "MessageType",
    "PairingState",
    "QueryStatus",
    "RefundErrorCode",
    "RequestInfo",
    "ResultStatus",
    "TipMode",
    "TransactionType",
    "TxStartResponseResult",
    "TxState",
    "UiDirection",
    "UiState",
    "VoidReason",
]


class _WireEnum(enum.StrEnum):
    """A ``StrEnum`` whose ``.value`` is read in C: pydantic-core reads ``.value`` to
    write every enum field, and ``enum``'s own ``value`` property is Python code
    (≈ 0.2 µs per field written, four per TX_START / FINISH_OK pair)."""

    if not TYPE_CHECKING:
        value = property(attrgetter("_value_"))


class MessageType(_WireEnum):
    """Envelope ``type``."""

    COMMAND = "COMMAND"
    QUERY = "QUERY"
    EVENT = "EVENT"
    PING = "PING"
    PONG = "PONG"


class PairingState(_WireEnum):
    """``PAIRING_RESPONSE.pairingState``; PAIRED and INITIAL both mean success."""

    UNINITIALIZED = "UNINITIALIZED"
    PAIRED = "PAIRED"
    FAILED = "FAILED"
    INITIAL = "INITIAL"
    AUTHENTICATING = "AUTHENTICATING"
    PAIRING = "PAIRING"


class RequestInfo(_WireEnum):
    """``requestInfo`` of TX_START, echoed by the device on its answers."""

    SALE = "SALE"
    AUTH = "AUTH"
    PREAUTH = "PREAUTH"
    CREDIT = "CREDIT"
    REFUND = "REFUND"
    VOID_PAYMENT = "VOID_PAYMENT"


class TxStartResponseResult(_WireEnum):
    SUCCESS = "SUCCESS"
    ORDER_MODIFIED = "ORDER_MODIFIED"
    ORDER_LOAD = "ORDER_LOAD"
    DUPLICATE = "DUPLICATE"
    FAIL = "FAIL"


class TxState(_WireEnum):
    START = "START"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class ResultStatus(_WireEnum):
    """``status`` of most device responses."""

    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCEL = "CANCEL"


class UiDirection(_WireEnum):
    ENTER = "ENTER"
    EXIT = "EXIT"


class UiState(_WireEnum):
    """Known ``uiState`` values (the device may send others; the field is a str)."""

    START = "START"
    PROCESSING = "PROCESSING"
    PROCESSING_SWIPE = "PROCESSING_SWIPE"
    PROCESSING_CREDIT = "PROCESSING_CREDIT"
    PIN_PAD = "PIN_PAD"
    ADD_TIP = "ADD_TIP"
    SELECT_TIP = "SELECT_TIP"
    ADD_SIGNATURE = "ADD_SIGNATURE"
    VERIFY_SIGNATURE_ON_SCREEN = "VERIFY_SIGNATURE_ON_SCREEN"
    VERIFY_SIGNATURE_ON_PAPER = "VERIFY_SIGNATURE_ON_PAPER"
    CONFIRM_DUPLICATE_CHECK = "CONFIRM_DUPLICATE_CHECK"
    OFFLINE_PAYMENT_CONFIRM = "OFFLINE_PAYMENT_CONFIRM"
    CONFIRM_PARTIAL_AUTH = "CONFIRM_PARTIAL_AUTH"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    TRY_AGAIN = "TRY_AGAIN"
    REMOVE_CARD = "REMOVE_CARD"
    RECEIPT_OPTIONS = "RECEIPT_OPTIONS"
    THANKYOU_SCREEN = "THANKYOU_SCREEN"
    WELCOME_SCREEN = "WELCOME_SCREEN"
    DISPLAY_MESSAGE = "DISPLAY_MESSAGE"
    DISPLAY_ORDER = "DISPLAY_ORDER"
    CUSTOM_ACTIVITY = "CUSTOM_ACTIVITY"
    STARTING_CUSTOM_ACTIVITY = "STARTING_CUSTOM_ACTIVITY"
    SELECT_APPLICATION = "SELECT_APPLICATION"
    SELECT_LANGUAGE = "SELECT_LANGUAGE"


class KeyPress(_WireEnum):
    NONE = "NONE"
    ENTER = "ENTER"
    ESC = "ESC"
    BACKSPACE = "BACKSPACE"
    TAB = "TAB"
    STAR = "STAR"
    BUTTON_1 = "BUTTON_1"
    BUTTON_2 = "BUTTON_2"
    BUTTON_3 = "BUTTON_3"
    BUTTON_4 = "BUTTON_4"
    BUTTON_5 = "BUTTON_5"
    BUTTON_6 = "BUTTON_6"
    BUTTON_7 = "BUTTON_7"
    BUTTON_8 = "BUTTON_8"
    DIGIT_0 = "DIGIT_0"
    DIGIT_1 = "DIGIT_1"
    DIGIT_2 = "DIGIT_2"
    DIGIT_3 = "DIGIT_3"
    DIGIT_4 = "DIGIT_4"
    DIGIT_5 = "DIGIT_5"
    DIGIT_6 = "DIGIT_6"
    DIGIT_7 = "DIGIT_7"
    DIGIT_8 = "DIGIT_8"
    DIGIT_9 = "DIGIT_9"


class ExternalDeviceState(_WireEnum):
    IDLE = "IDLE"
    BUSY = "BUSY"
    WAITING_FOR_POS = "WAITING_FOR_POS"
    WAITING_FOR_CUSTOMER = "WAITING_FOR_CUSTOMER"
    UNKNOWN = "UNKNOWN"


class ExternalDeviceSubState(_WireEnum):
    CUSTOM_ACTIVITY = "CUSTOM_ACTIVITY"
    STARTING_PAYMENT_FLOW = "STARTING_PAYMENT_FLOW"
    PROCESSING_PAYMENT = "PROCESSING_PAYMENT"
    PROCESSING_CARD_DATA = "PROCESSING_CARD_DATA"
    PROCESSING_CREDIT = "PROCESSING_CREDIT"
    VERIFY_SIGNATURE = "VERIFY_SIGNATURE"
    TIP_SCREEN = "TIP_SCREEN"
    RECEIPT_SCREEN = "RECEIPT_SCREEN"
    CONFIRM_PAYMENT = "CONFIRM_PAYMENT"
    UNKNOWN = "UNKNOWN"


class QueryStatus(_WireEnum):
    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    IN_PROGRESS = "IN_PROGRESS"


class RefundErrorCode(_WireEnum):
    """``REFUND_RESPONSE.reason`` (Clover's ``ErrorCode``)."""

    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
    FAIL = "FAIL"


class TransactionType(_WireEnum):
    """``payIntent.transactionType``."""

    PAYMENT = "PAYMENT"
    CREDIT = "CREDIT"
    AUTH = "AUTH"
    DATA = "DATA"
    BALANCE_INQUIRY = "BALANCE_INQUIRY"
    PAYMENT_REVERSAL = "PAYMENT_REVERSAL"
    PAYMENT_ADJUSTMENT = "PAYMENT_ADJUSTMENT"
    CREDIT_REVERSAL = "CREDIT_REVERSAL"
    REFUND_ADJUSTMENT = "REFUND_ADJUSTMENT"
    CASH_ADVANCE = "CASH_ADVANCE"
    CAPTURE_PREAUTH = "CAPTURE_PREAUTH"
    VAS_DATA = "VAS_DATA"
    VERIFY_CARD = "VERIFY_CARD"
    TOKENIZE_CARD = "TOKENIZE_CARD"


class VoidReason(_WireEnum):
    USER_CANCEL = "USER_CANCEL"
    TRANSPORT_ERROR = "TRANSPORT_ERROR"
    REJECT_SIGNATURE = "REJECT_SIGNATURE"
    REJECT_PARTIAL_AUTH = "REJECT_PARTIAL_AUTH"
    NOT_APPROVED = "NOT_APPROVED"
    FAILED = "FAILED"
    AUTH_CLOSED_NEW_CARD = "AUTH_CLOSED_NEW_CARD"
    DEVELOPER_PAY_PARTIAL_AUTH = "DEVELOPER_PAY_PARTIAL_AUTH"
    REJECT_DUPLICATE = "REJECT_DUPLICATE"
    REJECT_OFFLINE = "REJECT_OFFLINE"
    GIFTCARD_LOAD_FAILED = "GIFTCARD_LOAD_FAILED"
    USER_GIFTCARD_LOAD_CANCEL = "USER_GIFTCARD_LOAD_CANCEL"
    DEVELOPER_PAY_TIP_ADJUST_FAILED = "DEVELOPER_PAY_TIP_ADJUST_FAILED"
    USER_CUSTOMER_CANCEL = "USER_CUSTOMER_CANCEL"
    FRAUD = "FRAUD"


class ChallengeType(_WireEnum):
    DUPLICATE_CHALLENGE = "DUPLICATE_CHALLENGE"
    OFFLINE_CHALLENGE = "OFFLINE_CHALLENGE"


class TipMode(_WireEnum):
    TIP_PROVIDED = "TIP_PROVIDED"
    ON_SCREEN_BEFORE_PAYMENT = "ON_SCREEN_BEFORE_PAYMENT"
    ON_SCREEN_AFTER_PAYMENT = "ON_SCREEN_AFTER_PAYMENT"
    ON_PAPER = "ON_PAPER"
    NO_TIP = "NO_TIP"


class DataEntryLocation(_WireEnum):
    ON_SCREEN = "ON_SCREEN"
    ON_PAPER = "ON_PAPER"
    NONE = "NONE"


class CardEntryMethod(enum.IntFlag):
    """Card entry method bit flags (each includes the 0x8000 bit, as in the SDKs)."""

    MAG_STRIPE = 33025
    ICC_CONTACT = 33282
    NFC_CONTACTLESS = 33796
    MANUAL = 34824
    DEFAULT = MAG_STRIPE | ICC_CONTACT | NFC_CONTACTLESS  # 34567
    ALL = DEFAULT | MANUAL  # 36623
