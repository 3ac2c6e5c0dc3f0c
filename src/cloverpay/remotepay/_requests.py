"""What the POS asks for, checked before anything is sent.

Checks follow Clover's Java SDK 1.4.1 (spec §8.2): an ``external_id`` of 1..32
characters after trimming, ``amount > 0``, ``tip_amount >= 0``, tip mode consistent
with the tip. A failed check answers with result FAIL and Clover's reason strings;
nothing reaches the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .protocol import (
    CardEntryMethod,
    PayIntent,
    TipMode,
    TransactionSettings,
    TransactionType,
    VaultedCard,
    VoidReason,
)

__all__ = [
    "AuthRequest",
    "CapturePreAuthRequest",
    "IncrementPreAuthRequest",
    "ManualRefundRequest",
    "PreAuthRequest",
    "RefundPaymentRequest",
    "SaleRequest",
    "TipAdjustAuthRequest",
    "TransactionRequest",
    "VoidPaymentRequest",
]

INVALID_ARGUMENT = "Invalid Argument."
_TIP_MODES = frozenset(TipMode)
VALIDATION_ERROR = "Request Validation Error"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionRequest:
    """Common fields of sale / auth / preauth / manual refund (amounts in cents).

    ``external_id`` becomes the payment's ``externalPaymentId``: derive it from your
    own record of the attempt so a lookup after a lost answer finds it.
    """

    amount: int
    external_id: str
    card_entry_methods: int = CardEntryMethod.DEFAULT
    disable_printing: bool = False
    disable_receipt_selection: bool = False
    disable_duplicate_checking: bool = False
    disable_restart_transaction_on_failure: bool = False
    auto_accept_payment_confirmations: bool = False
    auto_accept_signature: bool = False
    allow_offline_payment: bool = False
    force_offline_payment: bool = False
    approve_offline_payment_without_prompt: bool = False
    external_reference_id: str | None = None
    vaulted_card: VaultedCard | None = field(default=None, repr=False)
    extras: Mapping[str, Any] | None = None

    def _settings(self, tip_mode: TipMode | None) -> TransactionSettings:
        values: dict[str, Any] = {
            "card_entry_methods": int(self.card_entry_methods),
            "disable_cash_back": False,
            "clover_should_handle_receipts": not self.disable_printing,
            "force_pin_entry_on_swipe": False,
            "disable_restart_transaction_on_failure": self.disable_restart_transaction_on_failure,
            "allow_offline_payment": self.allow_offline_payment,
            "approve_offline_payment_without_prompt": self.approve_offline_payment_without_prompt,
            "force_offline_payment": self.force_offline_payment,
        }
        if tip_mode is not None:
            values["tip_mode"] = tip_mode
        values |= {
            "disable_receipt_selection": self.disable_receipt_selection,
            "disable_duplicate_check": self.disable_duplicate_checking,
            "auto_accept_payment_confirmations": self.auto_accept_payment_confirmations,
            "auto_accept_signature": self.auto_accept_signature,
            "return_result_on_transaction_complete": False,
        }
        return TransactionSettings(**values)

    def pay_intent(
        self,
        transaction_type: TransactionType,
        *,
        amount: int | None = None,
        tip_amount: int | None = None,
        tax_amount: int | None = None,
        tip_mode: TipMode | None = None,
    ) -> PayIntent:
        """The payIntent the JS SDK builds for this request (spec §6.1)."""
        values: dict[str, Any] = {"amount": self.amount if amount is None else amount}
        if tip_amount is not None:
            values["tip_amount"] = tip_amount
        if tax_amount is not None:
            values["tax_amount"] = tax_amount
        values |= {
            "transaction_type": transaction_type,
            "is_disable_cash_back": False,
            "is_testing": False,
            "is_card_not_present": False,
            "remote_print": False,
            "is_force_swipe_pin_entry": False,
            "disable_restart_transaction_when_failed": False,
            "external_payment_id": self.external_id.strip(),
            "requires_remote_confirmation": True,
            "allow_partial_auth": True,
        }
        if self.vaulted_card is not None:
            values["vaulted_card"] = self.vaulted_card
        if self.external_reference_id is not None:
            values["external_reference_id"] = self.external_reference_id
        if self.extras:
            values["pass_through_values"] = dict(self.extras)
        values["transaction_settings"] = self._settings(tip_mode)
        return PayIntent(**values)

    def check(self, call: str, kind: str) -> tuple[str, str] | None:
        """``(reason, message)`` when the request is invalid, else None."""
        external = (self.external_id or "").strip()
        if not external or len(external) > 32:
            return INVALID_ARGUMENT, (
                f"In {call}: {kind} - The externalId is required and the max length is "
                "32 characters."
            )
        if self.amount <= 0:
            return VALIDATION_ERROR, f"In {call}: {kind} - The request amount cannot be zero."
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleRequest(TransactionRequest):
    tip_amount: int | None = None
    tax_amount: int | None = None
    tip_mode: TipMode | None = None

    def check(self, call: str = "sale", kind: str = "SaleRequest") -> tuple[str, str] | None:
        problem = TransactionRequest.check(self, call, kind)
        if problem:
            return problem
        if self.tip_amount is not None and self.tip_amount < 0:
            return VALIDATION_ERROR, f"In {call}: {kind} - The tip amount cannot be less than zero."
        if self.tip_mode is not None and self.tip_mode not in _TIP_MODES:
            return INVALID_ARGUMENT, f"In {call}: {kind} - tipMode is not a TipMode name."
        if (
            self.tip_mode is not None
            and self.tip_mode != TipMode.TIP_PROVIDED
            and (self.tip_amount or 0) > 0
        ):
            return INVALID_ARGUMENT, (
                f"In {call}: {kind} - TipMode must be null or TIP_PROVIDED when TipAmount is "
                "greater than zero."
            )
        if self.tip_mode == TipMode.TIP_PROVIDED and self.tip_amount is None:
            return INVALID_ARGUMENT, (
                f"In {call}: {kind} - TipAmount cannot be null when TipMode is TIP_PROVIDED."
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRequest(TransactionRequest):
    tax_amount: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PreAuthRequest(TransactionRequest):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualRefundRequest(TransactionRequest):
    """A naked credit: ``amount`` is positive here, the wire carries it negated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundPaymentRequest:
    payment_id: str
    order_id: str | None = None
    amount: int | None = None
    full_refund: bool = False
    disable_printing: bool | None = None
    disable_receipt_selection: bool | None = None
    external_payment_id: str | None = None
    """The payment's own externalPaymentId. Not sent: if the answer is lost, it lets the
    connector look the payment up on the device (``RETRIEVE_PAYMENT``)."""

    def check(self) -> tuple[str, str] | None:
        if not self.payment_id:
            return VALIDATION_ERROR, (
                "In refundPayment: RefundPaymentRequest PaymentID cannot be empty."
            )
        if not self.full_refund and (self.amount is None or self.amount <= 0):
            return VALIDATION_ERROR, (
                "In refundPayment: RefundPaymentRequest Amount must be greater than zero when "
                "FullRefund is set to false."
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoidPaymentRequest:
    payment_id: str
    order_id: str | None = None
    employee_id: str | None = None
    void_reason: VoidReason = VoidReason.USER_CANCEL
    disable_printing: bool | None = None
    disable_receipt_selection: bool | None = None
    external_payment_id: str | None = None
    """The payment's own externalPaymentId. Not sent: if the answer is lost, it lets the
    connector look the payment up on the device (``RETRIEVE_PAYMENT``)."""

    def check(self) -> tuple[str, str] | None:
        if not self.payment_id:
            return (
                INVALID_ARGUMENT,
                "In voidPayment: VoidPaymentRequest - The paymentId is required.",
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TipAdjustAuthRequest:
    payment_id: str
    tip_amount: int
    order_id: str | None = None

    def check(self) -> tuple[str, str] | None:
        if not self.payment_id:
            return INVALID_ARGUMENT, (
                "In tipAdjustAuth: TipAdjustAuthRequest - The paymentId is required."
            )
        if self.tip_amount < 0:
            return VALIDATION_ERROR, (
                "In tipAdjustAuth: TipAdjustAuthRequest - The tip amount must be greater "
                "than or equal to zero."
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturePreAuthRequest:
    payment_id: str
    amount: int
    tip_amount: int = 0

    def check(self) -> tuple[str, str] | None:
        if not self.payment_id:
            return (
                INVALID_ARGUMENT,
                "In capturePreAuth: CapturePreAuthRequest - The paymentId is required.",
            )
        if self.amount < 0 or self.tip_amount < 0:
            return VALIDATION_ERROR, (
                "In capturePreAuth: CapturePreAuthRequest - The request amount must be greater "
                "than zero and the tip must be greater than or equal to zero."
            )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncrementPreAuthRequest:
    payment_id: str
    amount: int

    def check(self) -> tuple[str, str] | None:
        if not self.payment_id:
            return (
                INVALID_ARGUMENT,
                "In incrementPreAuth: IncrementPreAuthRequest - The paymentId is required.",
            )
        if self.amount <= 0:
            return VALIDATION_ERROR, (
                "In incrementPreAuth: IncrementPreAuthRequest - The request amount must be "
                "greater than zero."
            )
        return None
