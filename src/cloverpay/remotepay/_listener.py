"""Listener callbacks (Clover's ICloverConnectorListener, in snake_case).

Subclass :class:`CloverConnectorListener` and override what you need; every method
is a no-op by default. Callbacks run in the connector's event loop: keep them quick
(schedule work instead of blocking). An exception in a callback is logged and does
not break the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._responses import Response
from .protocol import (
    ConfirmPaymentMessage,
    DiscoveryResponse,
    Message,
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
        money that moved is never dropped)."""

    def on_message(self, message: Message | UntypedMessage) -> None:
        """Any other device message (print requests, activity messages, ...)."""
