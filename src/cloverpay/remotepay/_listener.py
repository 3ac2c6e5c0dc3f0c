"""Listener callbacks (Clover's ICloverConnectorListener, in snake_case).

Subclass :class:`CloverConnectorListener` and override what you need; every method
is a no-op by default. Responses arrive in ``on_response`` and, by default, from there
in the callback of their kind, as in Clover's SDKs (``on_sale_response``,
``on_void_payment_response``, …); override either, or ``on_response`` and call
``super().on_response(response)`` to keep both. Callbacks run in the connector's
event loop: keep them quick (schedule work instead of blocking). An exception in a
callback is logged and does not break the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._responses import (
    AuthResponse,
    CapturePreAuthResponse,
    CloseoutResponse,
    CustomActivityResponse,
    IncrementPreAuthResponse,
    ManualRefundResponse,
    PreAuthResponse,
    PrintJobStatusResponse,
    ReadCardDataResponse,
    RefundPaymentResponse,
    ResetDeviceResponse,
    Response,
    RetrieveDeviceStatusResponse,
    RetrievePaymentResponse,
    RetrievePendingPaymentsResponse,
    RetrievePrintersResponse,
    SaleResponse,
    TipAdjustAuthResponse,
    VaultCardResponse,
    VoidPaymentResponse,
)
from .protocol import (
    ActivityMessageFromActivity,
    ConfirmPaymentMessage,
    DiscoveryResponse,
    Message,
    Method,
    PrintCredit,
    PrintCreditDecline,
    PrintPayment,
    PrintPaymentDecline,
    PrintPaymentMerchantCopy,
    RefundPrintPayment,
    UiStateMessage,
    UntypedMessage,
    VerifySignature,
)

__all__ = ["CloverConnectorListener", "DeviceErrorEvent"]


@dataclass(frozen=True, slots=True)
class DeviceErrorEvent:
    """``type``: COMMUNICATION, VALIDATION, EXCEPTION (device REMOTE_ERROR) or PROTOCOL
    (the device broke the protocol); ``code`` a short name; ``message`` the detail."""

    type: str
    code: str
    message: str


class CloverConnectorListener:
    def on_device_connected(self) -> None:
        """The socket is open (pairing follows), or the device said it is not ready."""

    def on_device_ready(self, merchant_info: DiscoveryResponse) -> None:
        """DISCOVERY_RESPONSE with ready: requests can be sent."""

    def on_device_disconnected(self) -> None:
        """The socket closed or the heartbeat failed; reconnecting follows if enabled."""

    def on_device_error(self, error: DeviceErrorEvent) -> None: ...

    def on_pairing_code(self, pairing_code: str) -> None:
        """Show this code to the merchant, who types it on the device."""

    def on_pairing_success(self, authentication_token: str) -> None:
        """Paired; the token is also handed to the connector's token store."""

    def on_device_activity_start(self, event: UiStateMessage) -> None: ...

    def on_device_activity_end(self, event: UiStateMessage) -> None: ...

    def on_confirm_payment_request(self, request: ConfirmPaymentMessage) -> None:
        """Answer with ``connector.accept_payment`` or ``connector.reject_payment``."""

    def on_verify_signature_request(self, request: VerifySignature) -> None:
        """Answer with ``connector.accept_signature`` or ``connector.reject_signature``."""

    def on_tip_added(self, tip_amount: int) -> None: ...

    def on_response(self, response: Response) -> None:
        """Every response, awaited or not (a late FINISH_OK after a timeout lands here:
        money that moved is never dropped). By default handed on to the callback of
        its kind (``on_sale_response`` …)."""
        name = _BY_KIND.get(type(response))
        if name is not None:
            getattr(self, name)(response)

    def on_sale_response(self, response: SaleResponse) -> None: ...

    def on_auth_response(self, response: AuthResponse) -> None: ...

    def on_pre_auth_response(self, response: PreAuthResponse) -> None: ...

    def on_capture_pre_auth_response(self, response: CapturePreAuthResponse) -> None: ...

    def on_increment_pre_auth_response(self, response: IncrementPreAuthResponse) -> None: ...

    def on_tip_adjust_auth_response(self, response: TipAdjustAuthResponse) -> None: ...

    def on_void_payment_response(self, response: VoidPaymentResponse) -> None: ...

    def on_refund_payment_response(self, response: RefundPaymentResponse) -> None: ...

    def on_manual_refund_response(self, response: ManualRefundResponse) -> None: ...

    def on_closeout_response(self, response: CloseoutResponse) -> None: ...

    def on_retrieve_payment_response(self, response: RetrievePaymentResponse) -> None: ...

    def on_retrieve_pending_payments_response(
        self, response: RetrievePendingPaymentsResponse
    ) -> None: ...

    def on_retrieve_device_status_response(self, response: RetrieveDeviceStatusResponse) -> None:
        """Also the answer to a device status sent unasked."""

    def on_reset_device_response(self, response: ResetDeviceResponse) -> None: ...

    def on_read_card_data_response(self, response: ReadCardDataResponse) -> None: ...

    def on_vault_card_response(self, response: VaultCardResponse) -> None: ...

    def on_custom_activity_response(self, response: CustomActivityResponse) -> None: ...

    def on_retrieve_printers_response(self, response: RetrievePrintersResponse) -> None: ...

    def on_print_job_status_response(self, response: PrintJobStatusResponse) -> None: ...

    def on_message(self, message: Message | UntypedMessage) -> None:
        """Any other device message. By default the receipts to print (sent when the POS
        disabled Clover's printing), activity messages, customer data and invalid
        state transitions go on to their own callbacks below."""
        name = _BY_METHOD.get(message.method)
        if name is not None:
            getattr(self, name)(message)

    def on_print_payment_receipt(self, message: PrintPayment) -> None: ...

    def on_print_payment_decline_receipt(self, message: PrintPaymentDecline) -> None: ...

    def on_print_payment_merchant_copy_receipt(self, message: PrintPaymentMerchantCopy) -> None: ...

    def on_print_manual_refund_receipt(self, message: PrintCredit) -> None: ...

    def on_print_manual_refund_decline_receipt(self, message: PrintCreditDecline) -> None: ...

    def on_print_refund_payment_receipt(self, message: RefundPrintPayment) -> None: ...

    def on_message_from_activity(self, message: ActivityMessageFromActivity) -> None: ...

    def on_customer_provided_data(self, message: Message | UntypedMessage) -> None: ...

    def on_invalid_state_transition(self, message: Message | UntypedMessage) -> None: ...


_BY_KIND: dict[type[Response], str] = {
    SaleResponse: "on_sale_response",
    AuthResponse: "on_auth_response",
    PreAuthResponse: "on_pre_auth_response",
    CapturePreAuthResponse: "on_capture_pre_auth_response",
    IncrementPreAuthResponse: "on_increment_pre_auth_response",
    TipAdjustAuthResponse: "on_tip_adjust_auth_response",
    VoidPaymentResponse: "on_void_payment_response",
    RefundPaymentResponse: "on_refund_payment_response",
    ManualRefundResponse: "on_manual_refund_response",
    CloseoutResponse: "on_closeout_response",
    RetrievePaymentResponse: "on_retrieve_payment_response",
    RetrievePendingPaymentsResponse: "on_retrieve_pending_payments_response",
    RetrieveDeviceStatusResponse: "on_retrieve_device_status_response",
    ResetDeviceResponse: "on_reset_device_response",
    ReadCardDataResponse: "on_read_card_data_response",
    VaultCardResponse: "on_vault_card_response",
    CustomActivityResponse: "on_custom_activity_response",
    RetrievePrintersResponse: "on_retrieve_printers_response",
    PrintJobStatusResponse: "on_print_job_status_response",
}

_BY_METHOD: dict[Method, str] = {
    Method.PRINT_PAYMENT: "on_print_payment_receipt",
    Method.PRINT_PAYMENT_DECLINE: "on_print_payment_decline_receipt",
    Method.PRINT_PAYMENT_MERCHANT_COPY: "on_print_payment_merchant_copy_receipt",
    Method.PRINT_CREDIT: "on_print_manual_refund_receipt",
    Method.PRINT_CREDIT_DECLINE: "on_print_manual_refund_decline_receipt",
    Method.REFUND_PRINT_PAYMENT: "on_print_refund_payment_receipt",
    Method.ACTIVITY_MESSAGE_FROM_ACTIVITY: "on_message_from_activity",
    Method.CUSTOMER_PROVIDED_DATA_MESSAGE: "on_customer_provided_data",
    Method.INVALID_STATE_TRANSITION: "on_invalid_state_transition",
}
