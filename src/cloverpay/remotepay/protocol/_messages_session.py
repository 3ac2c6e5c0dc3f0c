"""Session payloads: pairing, discovery, ACK, errors from the device."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ._enums import PairingState
from ._message import Message
from ._methods import Method

__all__ = [
    "Ack",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "InvalidStateTransition",
    "PairingCode",
    "PairingRequest",
    "PairingResponse",
    "RemoteError",
]


class PairingRequest(Message):
    """P→D. ``authentication_token`` is None on first pairing (never shown in repr)."""

    METHOD: ClassVar[Method] = Method.PAIRING_REQUEST
    name: str | None = None
    serial_number: str | None = None
    application_name: str | None = None
    authentication_token: str | None = Field(default=None, repr=False)


class PairingCode(Message):
    """D→P: show this code to the merchant, who types it on the device."""

    METHOD: ClassVar[Method] = Method.PAIRING_CODE
    pairing_code: str = Field(repr=False)


class PairingResponse(Message):
    """D→P. PAIRED and INITIAL mean success (see :attr:`succeeded`)."""

    METHOD: ClassVar[Method] = Method.PAIRING_RESPONSE
    pairing_state: PairingState
    authentication_token: str | None = Field(default=None, repr=False)
    name: str | None = None
    serial_number: str | None = None
    application_name: str | None = None
    millis: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.pairing_state in (PairingState.PAIRED, PairingState.INITIAL)

    @property
    def failed(self) -> bool:
        return self.pairing_state is PairingState.FAILED


class DiscoveryRequest(Message):
    METHOD: ClassVar[Method] = Method.DISCOVERY_REQUEST
    supports_order_modification: bool | None = None


class DiscoveryResponse(Message):
    """D→P. ``ready`` is required; the ``supports_*`` flags gate requests."""

    METHOD: ClassVar[Method] = Method.DISCOVERY_RESPONSE
    ready: bool
    merchant_id: str | None = None
    merchant_name: str | None = None
    merchant_m_id: str | None = Field(default=None, alias="merchantMId")
    name: str | None = None
    serial: str | None = None
    model: str | None = None
    supports_tip_adjust: bool | None = None
    supports_manual_refund: bool | None = None
    supports_multi_pay_token: bool | None = None
    supports_acknowledgement: bool | None = None
    supports_pre_auth: bool | None = None
    supports_auth: bool | None = None
    supports_vault_card: bool | None = None
    supports_void_payment_response: bool | None = None
    supports_remote_confirmation: bool | None = None
    supports_naked_credit: bool | None = None


class Ack(Message):
    """D→P: the device received the POS message whose envelope id is given."""

    METHOD: ClassVar[Method] = Method.ACK
    source_message_id: str
    source_method: str | None = None


class RemoteError(Message):
    METHOD: ClassVar[Method] = Method.REMOTE_ERROR
    error_code: str | None = None
    error_message: str | None = None
    error_detail: str | None = None


class InvalidStateTransition(Message):
    """D→P: the device refused a request in its current state (e.g. busy)."""

    METHOD: ClassVar[Method] = Method.INVALID_STATE_TRANSITION
    result: str | None = None
    reason: str | None = None
    requested_transition: str | None = None
    state: str | None = None
    substate: str | None = None
    data: dict[str, Any] | None = None
