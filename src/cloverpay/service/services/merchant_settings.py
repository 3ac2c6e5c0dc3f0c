"""A merchant's settings of the dashboard's Settings page: how pay links open
(``pay_flow``), the card processing rate the reports estimate fees with, and whether
payers get receipts by email (table ``merchant_web_settings``; no row = the defaults).

One code path for the dashboard and ``/v1/settings``: :func:`read_settings` reads them,
:func:`update_settings` validates every field of a change first (an error names the
field; nothing is written), then writes the fields that differ and their audit rows in
one transaction. A change that changes nothing writes nothing, no audit row either, so
a retried request leaves no second trace.

Audit rows (entity ``merchant``, the merchant's id), one per setting that changed:
``settings.pay_flow`` (``iframe`` → ``hosted_checkout``), ``settings.fee_rate``
(``0bps+0c`` → ``290bps+30c``, rate and fixed fee together), ``settings.receipts``
(``on`` → ``off``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloverpay.service.db import MerchantWebSettings
from cloverpay.service.db.models_web import PAY_FLOWS
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "MAX_FEE_FIXED_CENTS",
    "MAX_FEE_RATE_BPS",
    "PAY_FLOWS",
    "MerchantSettings",
    "SettingsChange",
    "read_settings",
    "update_settings",
    "validate_change",
]

#: The highest rate accepted: 20 % (a typo guard; Clover's card rates are a few percent).
MAX_FEE_RATE_BPS = 2_000
#: The highest fixed fee per card payment accepted: $10.
MAX_FEE_FIXED_CENTS = 1_000


@dataclass(frozen=True, slots=True)
class MerchantSettings:
    """The merchant's settings as they are (the defaults when none were saved)."""

    pay_flow: str = "iframe"
    fee_rate_bps: int = 0
    fee_fixed_cents: int = 0
    receipts_enabled: bool = True
    #: When they were last changed; None while they are the defaults, never saved.
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The settings to change; None leaves a setting as it is."""

    pay_flow: str | None = None
    fee_rate_bps: int | None = None
    fee_fixed_cents: int | None = None
    receipts_enabled: bool | None = None


def _settings_of(row: MerchantWebSettings | None) -> MerchantSettings:
    if row is None:
        return MerchantSettings()
    return MerchantSettings(
        pay_flow=row.pay_flow,
        fee_rate_bps=row.fee_rate_bps or 0,
        fee_fixed_cents=row.fee_fixed_cents or 0,
        receipts_enabled=bool(row.receipts_enabled),
        updated_at=row.updated_at,
    )


def read_settings(session: Session, merchant_id: str) -> MerchantSettings:
    return _settings_of(session.get(MerchantWebSettings, merchant_id))


def _whole(value: object, field: str, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{field} must be a whole number", field=field)
    if not low <= value <= high:
        raise InvalidRequest(f"{field} must be {low} to {high} ({what})", field=field)


def validate_change(change: SettingsChange) -> None:
    """Refuse the whole change at its first bad field (InvalidRequest naming it)."""
    if change.pay_flow is not None and change.pay_flow not in PAY_FLOWS:
        raise InvalidRequest(f"pay_flow must be one of {', '.join(PAY_FLOWS)}", field="pay_flow")
    if change.fee_rate_bps is not None:
        _whole(change.fee_rate_bps, "fee_rate_bps", 0, MAX_FEE_RATE_BPS, "0 to 20 %")
    if change.fee_fixed_cents is not None:
        _whole(change.fee_fixed_cents, "fee_fixed_cents", 0, MAX_FEE_FIXED_CENTS, "$0 to $10")
    if change.receipts_enabled is not None and not isinstance(change.receipts_enabled, bool):
        raise InvalidRequest("receipts_enabled must be true or false", field="receipts_enabled")


def _fee_text(bps: int, fixed_cents: int) -> str:
    return f"{bps}bps+{fixed_cents}c"[:20]


def _apply(
    s: Session, ctx: ServiceContext, merchant_id: str, change: SettingsChange, actor: str
) -> tuple[MerchantSettings, list[str]]:
    row = s.get(MerchantWebSettings, merchant_id, with_for_update=True)
    before = _settings_of(row)
    wanted = {
        "pay_flow": change.pay_flow,
        "fee_rate_bps": change.fee_rate_bps,
        "fee_fixed_cents": change.fee_fixed_cents,
        "receipts_enabled": change.receipts_enabled,
    }
    changed = [
        name
        for name, value in wanted.items()
        if value is not None and value != getattr(before, name)
    ]
    if not changed:
        return before, []
    now = ctx.now()
    if row is None:
        row = MerchantWebSettings(
            merchant_id=merchant_id,
            pay_flow=before.pay_flow,
            fee_rate_bps=before.fee_rate_bps,
            fee_fixed_cents=before.fee_fixed_cents,
            receipts_enabled=before.receipts_enabled,
        )
        s.add(row)
    for name in changed:
        setattr(row, name, wanted[name])
    row.updated_at = now
    after = _settings_of(row)

    def audit(action: str, from_state: str, to_state: str) -> None:
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action=action,
            entity_type="merchant",
            entity_id=merchant_id,
            from_state=from_state,
            to_state=to_state,
            now=now,
        )

    if "pay_flow" in changed:
        audit("settings.pay_flow", before.pay_flow, after.pay_flow)
    if "fee_rate_bps" in changed or "fee_fixed_cents" in changed:
        audit(
            "settings.fee_rate",
            _fee_text(before.fee_rate_bps, before.fee_fixed_cents),
            _fee_text(after.fee_rate_bps, after.fee_fixed_cents),
        )
    if "receipts_enabled" in changed:
        audit(
            "settings.receipts",
            "on" if before.receipts_enabled else "off",
            "on" if after.receipts_enabled else "off",
        )
    s.flush()
    return after, changed


def update_settings(
    ctx: ServiceContext, merchant_id: str, change: SettingsChange, *, actor: str
) -> tuple[MerchantSettings, list[str]]:
    """Apply ``change`` all or nothing; the settings after it and the names of the
    fields that changed (empty: nothing was written)."""
    validate_change(change)
    try:
        with ctx.sessions.begin() as s:
            return _apply(s, ctx, merchant_id, change, actor)
    except IntegrityError:
        # Two first changes raced to insert the row: the other one's row is there now
        # (and locked by this second try), so this one applies on top of it.
        with ctx.sessions.begin() as s:
            return _apply(s, ctx, merchant_id, change, actor)
