"""What the emulated terminal holds besides its behaviour: its settings
(:class:`TerminalSettings`), the customer scripts queued per device
(:class:`ScriptQueue`), the inputs a flow waits for (:class:`Input`) and the
transaction in flight (:class:`InFlight`)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._script import CustomerScript

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["InFlight", "Input", "ScriptQueue", "TerminalSettings"]

PairingMode = Literal["auto", "confirm"]


@dataclass
class TerminalSettings:
    """What the device reports about itself and the switches for guessed behaviour."""

    name: str = "Clover Mini (sandbox)"
    serial: str = "C0SANDBOX0001"
    model: str = "Clover_C300"
    device_id: str = "0c0ffee0-5a4d-4b0c-8000-000000000001"
    #: ``auto``: pair on the spot; ``confirm``: wait until the code is confirmed on the
    #: device (control API / ``/terminal`` page), as a merchant typing it would.
    pairing: PairingMode = "auto"
    supports_tip_adjust: bool = True
    supports_manual_refund: bool = True
    supports_pre_auth: bool = True
    supports_auth: bool = True
    supports_vault_card: bool = True
    supports_void_payment_response: bool = True
    supports_acknowledgement: bool = True
    #: [guess] after a decline, return to the card screen for another try (unless the
    #: POS disabled restarts; only with a person at the terminal, ``human`` scripts).
    #: Off: every decline ends the transaction (FINISH_CANCEL).
    restart_on_decline: bool = False
    #: [guess] what ``RETRIEVE_PAYMENT`` finds: ``all`` the merchant's payments with that
    #: ``externalPaymentId``; ``boot`` only those taken since the device last restarted
    #: (a device whose lookup is local memory: the POS must fall back on the REST API).
    retrieve_scope: Literal["all", "boot"] = "all"
    #: WebSocket-level pings (seconds; None disables) and the pong timeout.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: a fragmented message idle this long is finished without ``lastFragment`` (s)
    fragment_idle_s: float = 2.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ScriptQueue:
    """Scripts queued for the next transactions of each device (a ``state.domain``, so
    ``/_sandbox/reset`` empties it; keyed by device id, so the terminals of one merchant
    never take each other's scripts)."""

    by_device: dict[str, deque[CustomerScript]] = field(default_factory=dict)

    def for_device(self, device_id: str) -> deque[CustomerScript]:
        return self.by_device.setdefault(device_id, deque())


@dataclass(frozen=True, slots=True)
class Input:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class InFlight:
    """The transaction the device is working on (forgotten on reboot)."""

    request_info: str
    external_payment_id: str | None
    session: Session | None
    task: asyncio.Task[None] | None = None
    waiting_for: str = "CUSTOMER"
