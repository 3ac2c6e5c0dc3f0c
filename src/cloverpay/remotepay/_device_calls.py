"""The connector's device calls: lookups, reset, cards, custom activities, screens."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from ._calls import CONFIG_ERROR, Calls
from ._errors import NotReadyError
from ._responses import (
    CustomActivityResponse,
    ReadCardDataResponse,
    ResetDeviceResponse,
    Response,
    ResponseCode,
    RetrieveDeviceStatusResponse,
    RetrievePaymentResponse,
    RetrievePendingPaymentsResponse,
    VaultCardResponse,
    status_code,
)
from .protocol import (
    ActivityMessageToActivity,
    ActivityRequest,
    Break,
    CardDataRequest,
    CardEntryMethod,
    KeyPress,
    KeyPressMessage,
    Method,
    PayIntent,
    Payment,
    PaymentConfirmed,
    PaymentRejected,
    PrintImage,
    PrintText,
    RetrieveDeviceStatusRequest,
    RetrievePaymentRequest,
    RetrievePendingPayments,
    ShowThankYouScreen,
    ShowWelcomeScreen,
    SignatureVerified,
    TerminalMessage,
    TransactionType,
    VaultCard,
    VoidReason,
)
from .protocol import RetrieveDeviceStatusResponse as DeviceStatusMessage
from .protocol import RetrievePaymentResponse as RetrievePaymentMessage

__all__ = ["DeviceCalls"]

R = TypeVar("R", bound=Response)


class DeviceCalls(Calls):
    """Calls that move no money."""

    # -- queries ----------------------------------------------------------------------
    async def retrieve_payment(
        self, external_payment_id: str, *, timeout: float | None = None
    ) -> RetrievePaymentResponse:
        """Look a payment up by the externalPaymentId it was started with."""
        if not self.is_ready:
            return self._not_ready(
                RetrievePaymentResponse, "retrievePayment", "RetrievePaymentRequest"
            )
        event = await self._request(
            RetrievePaymentRequest(external_payment_id=external_payment_id),
            Method.RETRIEVE_PAYMENT_RESPONSE,
            timeout,
        )
        msg = event.message
        assert isinstance(msg, RetrievePaymentMessage)
        code = status_code(msg.status)
        return self._answer(
            RetrievePaymentResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                message=msg.message,
                external_payment_id=msg.external_payment_id,
                query_status=msg.query_status,
                payment=msg.payment,
            )
        )

    async def retrieve_pending_payments(
        self, *, timeout: float | None = None
    ) -> RetrievePendingPaymentsResponse:
        if not self.is_ready:
            return self._not_ready(RetrievePendingPaymentsResponse, "retrievePendingPayments", "")
        event = await self._request(
            RetrievePendingPayments(), Method.RETRIEVE_PENDING_PAYMENTS_RESPONSE, timeout
        )
        msg: Any = event.message
        code = status_code(msg.status)
        if code is not ResponseCode.SUCCESS:
            code = ResponseCode.ERROR
        return self._answer(
            RetrievePendingPaymentsResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                pending_payments=list(msg.pending_payment_entries or []),
            )
        )

    async def retrieve_device_status(
        self, *, send_last_message: bool = False, timeout: float | None = None
    ) -> RetrieveDeviceStatusResponse:
        if not self.is_ready:
            return self._not_ready(RetrieveDeviceStatusResponse, "retrieveDeviceStatus", "")
        event = await self._request(
            RetrieveDeviceStatusRequest(send_last_message=send_last_message),
            Method.RETRIEVE_DEVICE_STATUS_RESPONSE,
            timeout,
        )
        msg = event.message
        assert isinstance(msg, DeviceStatusMessage)
        code = status_code(msg.status)
        return self._answer(
            RetrieveDeviceStatusResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                state=msg.state,
                substate=msg.substate,
                data=msg.data,
            )
        )

    async def reset_device(self, *, timeout: float | None = None) -> ResetDeviceResponse:
        """BREAK: the device abandons what it is doing (an open transaction included)."""
        if not self.is_ready:
            return self._not_ready(ResetDeviceResponse, "resetDevice", "")
        event = await self._request(Break(), Method.RESET_DEVICE_RESPONSE, timeout)
        msg: Any = event.message
        return self._answer(
            ResetDeviceResponse(
                success=True, result=ResponseCode.SUCCESS, reason=msg.reason, state=msg.state
            )
        )

    # -- cards and custom activities ---------------------------------------------------
    async def read_card_data(
        self,
        *,
        card_entry_methods: int = CardEntryMethod.DEFAULT,
        force_swipe_pin_entry: bool = False,
        timeout: float | None = None,
    ) -> ReadCardDataResponse:
        """Read a card without charging it (CARD_DATA). The answer may hold track data:
        it is never logged, and its repr shows only which fields are present."""
        if not self.is_ready:
            return self._not_ready(ReadCardDataResponse, "readCardData", "ReadCardDataRequest")
        intent = PayIntent(
            transaction_type=TransactionType.DATA,
            is_disable_cash_back=False,
            is_testing=False,
            card_entry_methods=int(card_entry_methods),
            is_card_not_present=False,
            remote_print=False,
            is_force_swipe_pin_entry=force_swipe_pin_entry,
            disable_restart_transaction_when_failed=False,
            allow_partial_auth=True,
        )
        event = await self._request(
            CardDataRequest(pay_intent=intent), Method.CARD_DATA_RESPONSE, timeout
        )
        msg: Any = event.message
        code = status_code(msg.status)
        self._background(ShowWelcomeScreen())
        return self._answer(
            ReadCardDataResponse(
                success=code is ResponseCode.SUCCESS,
                result=code,
                reason=msg.reason,
                card_data=msg.card_data,
            )
        )

    async def vault_card(
        self, *, card_entry_methods: int | None = None, timeout: float | None = None
    ) -> VaultCardResponse:
        """Tokenize a card for later use (VAULT_CARD); needs ``supports_vault_card``."""
        if not self.is_ready:
            return self._not_ready(VaultCardResponse, "vaultCard", "")
        assert self.merchant_info is not None
        if not self.merchant_info.supports_vault_card:
            return self._local(
                VaultCardResponse,
                ResponseCode.UNSUPPORTED,
                CONFIG_ERROR,
                "In vaultCard: VaultCard/Payment Tokens are not enabled for the payment gateway.",
            )
        methods = CardEntryMethod.DEFAULT if card_entry_methods is None else card_entry_methods
        message = VaultCard(card_entry_methods=int(methods), single_use=False)
        event = await self._request(message, Method.VAULT_CARD_RESPONSE, timeout)
        msg: Any = event.message
        code = status_code(msg.status)
        self._background(ShowWelcomeScreen())
        return self._answer(
            VaultCardResponse(
                success=code is ResponseCode.SUCCESS, result=code, reason=msg.reason, card=msg.card
            )
        )

    async def start_custom_activity(
        self,
        action: str,
        payload: str | None = None,
        *,
        non_blocking: bool = False,
        timeout: float | None = None,
    ) -> CustomActivityResponse:
        """Run a custom activity on the device; messages it sends meanwhile arrive in
        ``listener.on_message``. ``result_code == -1`` (Android RESULT_OK) is SUCCESS."""
        if not self.is_ready:
            return self._not_ready(CustomActivityResponse, "startCustomActivity", "")
        message = ActivityRequest(
            action=action, payload=payload, non_blocking=non_blocking, force_launch=False
        )
        event = await self._request(message, Method.ACTIVITY_RESPONSE, timeout)
        msg: Any = event.message
        ok = msg.result_code == -1
        return self._answer(
            CustomActivityResponse(
                success=ok,
                result=ResponseCode.SUCCESS if ok else ResponseCode.CANCEL,
                reason=msg.fail_reason,
                action=msg.action,
                payload=msg.payload,
            )
        )

    async def send_message_to_activity(self, action: str, payload: str | None = None) -> None:
        await self._send(ActivityMessageToActivity(action=action, payload=payload))

    # -- screens and answers to the device ---------------------------------------------
    async def show_message(self, text: str) -> None:
        await self._send(TerminalMessage(text=text))

    async def show_welcome_screen(self) -> None:
        await self._send(ShowWelcomeScreen())

    async def show_thank_you_screen(self) -> None:
        await self._send(ShowThankYouScreen())

    async def print_text(self, lines: list[str], *, print_job_id: str | None = None) -> None:
        values: dict[str, Any] = {"text_lines": lines}
        if print_job_id is not None:
            values["external_print_job_id"] = print_job_id
        await self._send(PrintText(**values))

    async def print_image(self, png: bytes, *, print_job_id: str | None = None) -> None:
        """Print a PNG: as a fragmented attachment when the device reassembles (envelope
        version 2), else inline in ``png`` (version 1), as the SDKs do."""
        core = self._core
        if core is None:
            raise NotReadyError("The Clover device is not connected.")
        encoded = base64.b64encode(png).decode("ascii")
        values: dict[str, Any] = {}
        if print_job_id is not None:
            values["external_print_job_id"] = print_job_id
        if core.outbound_version >= 2:
            await self._send(PrintImage(png=None, **values), attachment=encoded)
        else:
            await self._send(PrintImage(png=encoded, **values))

    async def invoke_input_option(self, key: KeyPress) -> None:
        """Press a key on the device, e.g. ``KeyPress.ESC`` to cancel a transaction."""
        await self._send(KeyPressMessage(key_press=key))

    async def accept_payment(self, payment: Payment) -> None:
        await self._send(PaymentConfirmed(payment=payment))

    async def reject_payment(self, payment: Payment, reason: VoidReason) -> None:
        await self._send(PaymentRejected(payment=payment, reason=reason))

    async def accept_signature(self, payment: Payment) -> None:
        await self._send(SignatureVerified(payment=payment, verified=True))

    async def reject_signature(self, payment: Payment) -> None:
        await self._send(SignatureVerified(payment=payment, verified=False))
