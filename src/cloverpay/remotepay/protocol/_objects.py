"""Clover SDK v3 objects carried in payloads: Payment, CardTransaction, Refund, Credit…

Only ``id`` is required on the objects that have one; every other field is optional,
as in Clover's schema. Money is in minor units (cents); times are epoch milliseconds.
Card data: only first6/last4, brand, expiry and tokens travel here; objects never
hold a full card number, and reprs show no card or token values (``repr=False``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._enums import ChallengeType, DataEntryLocation, TipMode, TransactionType, VoidReason
from ._wire import ElementsList, WireModel

__all__ = [
    "Authorization",
    "Batch",
    "CardData",
    "CardTransaction",
    "Challenge",
    "Credit",
    "InputOption",
    "PayIntent",
    "Payment",
    "PendingPaymentEntry",
    "Printer",
    "Reference",
    "Refund",
    "Signature",
    "SignaturePoint",
    "SignatureStroke",
    "Tender",
    "TransactionSettings",
    "VaultedCard",
]


class Reference(WireModel):
    """``{"id": ...}`` reference to another Clover object (order, device, employee…)."""

    id: str | None = None


class Tender(WireModel):
    id: str | None = None
    label: str | None = None
    label_key: str | None = None


class CardTransaction(WireModel):
    """``payment.cardTransaction``. ``type``/``entry_type``/``card_type`` are open sets."""

    card_type: str | None = None
    entry_type: str | None = None
    first6: str | None = None
    last4: str | None = None
    type: str | None = None
    auth_code: str | None = None
    reference_id: str | None = None
    transaction_no: str | None = None
    state: str | None = None
    extra: dict[str, Any] | None = None
    beg_balance: int | None = None
    end_balance: int | None = None
    avs_result: str | None = None
    cardholder_name: str | None = Field(default=None, repr=False)
    token: str | None = Field(default=None, repr=False)
    vaulted_card: dict[str, Any] | None = Field(default=None, repr=False)
    gateway_tx_state: str | None = None
    currency: str | None = None
    captured: bool | None = None


class TransactionSettings(WireModel):
    card_entry_methods: int | None = None
    clover_should_handle_receipts: bool | None = None
    disable_restart_transaction_on_failure: bool | None = None
    disable_receipt_selection: bool | None = None
    disable_duplicate_check: bool | None = None
    auto_accept_payment_confirmations: bool | None = None
    auto_accept_signature: bool | None = None
    signature_threshold: int | None = None
    signature_entry_location: DataEntryLocation | None = None
    tip_mode: TipMode | None = None
    tippable_amount: int | None = None
    tip_suggestions: list[dict[str, Any]] | None = None
    disable_cash_back: bool | None = None
    allow_offline_payment: bool | None = None
    force_offline_payment: bool | None = None
    approve_offline_payment_without_prompt: bool | None = None
    force_pin_entry_on_swipe: bool | None = None
    return_result_on_transaction_complete: bool | None = None
    regional_extras: dict[str, Any] | None = None


class Refund(WireModel):
    id: str
    order_ref: Reference | None = None
    device: Reference | None = None
    amount: int | None = None
    tax_amount: int | None = None
    tip_amount: int | None = None
    created_time: int | None = None
    client_created_time: int | None = None
    payment: Reference | None = None
    employee: Reference | None = None
    voided: bool | None = None
    void_reason: str | None = None
    card_transaction: CardTransaction | None = None
    external_reference_id: str | None = None


class Authorization(WireModel):
    """A preauth increment (``INCREMENT_PREAUTH_RESPONSE.authorization``)."""

    id: str | None = None
    amount: int | None = None
    payment: Reference | None = None


class Payment(WireModel):
    """A Clover payment as the device reports it (``result``: SUCCESS, FAIL, AUTH…)."""

    id: str
    order: Reference | None = None
    device: Reference | None = None
    tender: Tender | None = None
    amount: int | None = None
    tip_amount: int | None = None
    tax_amount: int | None = None
    cashback_amount: int | None = None
    cash_tendered: int | None = None
    external_payment_id: str | None = None
    employee: Reference | None = None
    created_time: int | None = None
    client_created_time: int | None = None
    modified_time: int | None = None
    offline: bool | None = None
    result: str | None = None
    card_transaction: CardTransaction | None = None
    transaction_settings: TransactionSettings | None = None
    refunds: ElementsList[Refund] | None = None
    tax_rates: ElementsList[dict[str, Any]] | None = None
    additional_charges: ElementsList[dict[str, Any]] | None = None
    line_item_payments: ElementsList[dict[str, Any]] | None = None
    increments: ElementsList[Authorization] | None = None
    note: str | None = None
    void_reason: str | None = None
    external_reference_id: str | None = None


class Credit(WireModel):
    """A manual refund (naked credit)."""

    id: str
    order_ref: Reference | None = None
    device: Reference | None = None
    tender: Tender | None = None
    employee: Reference | None = None
    amount: int | None = None
    tax_amount: int | None = None
    created_time: int | None = None
    client_created_time: int | None = None
    card_transaction: CardTransaction | None = None
    voided: bool | None = None
    void_reason: str | None = None
    result: str | None = None


class SignaturePoint(WireModel):
    x: int
    y: int


class SignatureStroke(WireModel):
    points: list[SignaturePoint] | None = None


class Signature(WireModel):
    """On-screen signature; ``strokes`` is written bare, as the device sends it."""

    width: int | None = None
    height: int | None = None
    strokes: list[SignatureStroke] | None = None


class Challenge(WireModel):
    type: ChallengeType | None = None
    message: str | None = None
    reason: VoidReason | None = None


class InputOption(WireModel):
    key_press: str | None = None
    description: str | None = None


class VaultedCard(WireModel):
    first6: str | None = None
    last4: str | None = None
    cardholder_name: str | None = Field(default=None, repr=False)
    expiration_date: str | None = Field(default=None, repr=False)
    token: str | None = Field(default=None, repr=False)


class PayIntent(WireModel):
    """What TX_START / CARD_DATA ask the device to do (amounts in cents)."""

    amount: int | None = None
    tip_amount: int | None = None
    tax_amount: int | None = None
    transaction_type: TransactionType | None = None
    is_disable_cash_back: bool | None = None
    is_testing: bool | None = None
    card_entry_methods: int | None = None
    is_card_not_present: bool | None = None
    remote_print: bool | None = None
    is_force_swipe_pin_entry: bool | None = None
    disable_restart_transaction_when_failed: bool | None = None
    external_payment_id: str | None = None
    external_reference_id: str | None = None
    requires_remote_confirmation: bool | None = None
    allow_partial_auth: bool | None = None
    vaulted_card: VaultedCard | None = Field(default=None, repr=False)
    pass_through_values: dict[str, Any] | None = None
    is_present_qrc_only: bool | None = None
    transaction_settings: TransactionSettings | None = None
    order_id: str | None = None
    payment_id: str | None = None
    employee_id: str | None = None


class CardData(WireModel):
    """``CARD_DATA_RESPONSE.cardData``: may hold track data or a PAN (never logged: the
    repr shows only which fields are present)."""

    first6: str | None = None
    last4: str | None = None
    exp: str | None = None
    cardholder_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    encrypted: bool | None = None
    pan: str | None = None
    track1: str | None = None
    track2: str | None = None
    track3: str | None = None
    masked_track1: str | None = None
    masked_track2: str | None = None
    masked_track3: str | None = None

    def __repr_args__(self) -> Any:  # never show track data, PAN or names
        return [("fields", sorted(self.model_fields_set))]


class PendingPaymentEntry(WireModel):
    payment_id: str | None = None
    external_payment_id: str | None = None
    amount: int | None = None
    tip_amount: int | None = None


class Printer(WireModel):
    id: str | None = None
    name: str | None = None
    type: str | None = None


class Batch(WireModel):
    """``CLOSEOUT_RESPONSE.batch`` (extra fields such as ``batchDetails`` kept aside)."""

    id: str | None = None
    tx_count: int | None = None
    total_batch_amount: int | None = None
    state: str | None = None
    batch_type: str | None = None
    created_time: int | None = None
