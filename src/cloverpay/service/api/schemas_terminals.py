"""Request and response bodies of the terminal endpoints (no pairing token ever
leaves the service)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from cloverpay.service.api.schemas import PaymentOut, PositiveCents, UtcDateTime, Via, _In

__all__ = ["TerminalIn", "TerminalOut", "TerminalSaleIn", "TerminalSaleOut", "VoidIn"]

Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TerminalIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    #: ``wss://<device>:12345/remote_pay`` (LAN) or Clover's server (cloud)
    url: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    connection_kind: Literal["lan", "cloud"] = "lan"
    serial: Annotated[str, StringConstraints(max_length=64)] | None = None
    #: Clover's device id (required for a cloud terminal)
    device_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    #: hex SHA-256 of the device certificate to pin (LAN, ``wss://``)
    pinned_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F:]{64,95}$")] | None = None


class TerminalOut(BaseModel):
    id: str
    name: str
    connection_kind: str
    url: str
    serial: str | None
    device_id: str | None
    #: new / pairing / ready / disconnected / error / disabled (what the owner last saw)
    status: str
    #: the code to type on the device while it pairs
    pairing_code: str | None
    last_error: str | None
    #: the service process holding the terminal's connection, and until when
    lease_owner: str | None
    lease_until: UtcDateTime | None
    created_at: UtcDateTime


class TerminalSaleIn(_In):
    invoice_id: Id
    terminal_id: Id
    #: part of the amount due (default: all of it)
    amount: PositiveCents | None = None


class ScreenOut(BaseModel):
    ui_state: str | None
    ui_text: str | None


class TerminalSaleOut(BaseModel):
    #: the sale's payment attempt id
    id: str
    invoice_id: str | None
    terminal_id: str
    amount: int
    tip_amount: int
    currency: str
    #: the attempt: pending / unknown / succeeded / failed
    state: str
    #: how far the sale got: queued / sending / done / unknown / expired
    stage: str
    #: the device's screen as last reported (the live state)
    screen: ScreenOut
    external_payment_id: str | None
    failure_code: str | None
    failure_message: str | None
    note: str | None
    payment: PaymentOut | None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None
    updated_at: UtcDateTime


class VoidIn(_In):
    reason: Annotated[str, StringConstraints(max_length=100)] | None = None
    #: a void of a terminal payment is device-only: ``rest`` is refused (naming ``via``)
    via: Via = None
