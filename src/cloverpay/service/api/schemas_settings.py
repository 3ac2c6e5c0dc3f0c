"""Bodies of ``/v1/settings`` (:mod:`cloverpay.service.api.routes.settings`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloverpay.service.api.schemas import UtcDateTime
from cloverpay.service.services.merchant_settings import (
    MAX_FEE_FIXED_CENTS,
    MAX_FEE_RATE_BPS,
    MerchantSettings,
)

__all__ = ["PayFlow", "SettingsOut", "SettingsPatch", "settings_out"]

#: ``iframe``: our pay page with Clover's card iframe; ``hosted_checkout``: a Clover
#: Hosted Checkout session (``merchant_settings.PAY_FLOWS``, a test keeps them equal).
PayFlow = Literal["iframe", "hosted_checkout"]
FeeRateBps = Annotated[int, Field(ge=0, le=MAX_FEE_RATE_BPS)]
FeeFixedCents = Annotated[int, Field(ge=0, le=MAX_FEE_FIXED_CENTS)]


class SettingsOut(BaseModel):
    #: What a pay link opens.
    pay_flow: PayFlow
    #: The card processing rate the reports estimate fees with, in basis points of
    #: amount + tip (290 = 2.9 %), plus ``fee_fixed_cents`` per card payment.
    fee_rate_bps: int
    fee_fixed_cents: int
    #: Email a receipt to the invoice's customer for each payment and refund.
    receipts_enabled: bool
    #: Last change; null while the settings are the defaults.
    updated_at: UtcDateTime | None


def _optional_not_null(schema: dict[str, Any]) -> None:
    """The schema of a PATCH body: each property may be left out but is never null
    (``X | None`` in Python only so that "left out" has a value)."""
    for prop in schema.get("properties", {}).values():
        branches = prop.pop("anyOf", None)
        if branches is not None:
            (kept,) = [b for b in branches if b != {"type": "null"}]
            prop.update(kept)
        prop.pop("default", None)


class SettingsPatch(BaseModel):
    """The settings to change; a field left out keeps its value (null is refused).
    Values are taken as they are typed (strict): a JSON integer for the fees, a JSON
    boolean for ``receipts_enabled``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_optional_not_null)

    pay_flow: PayFlow | None = None
    fee_rate_bps: FeeRateBps | None = None
    fee_fixed_cents: FeeFixedCents | None = None
    receipts_enabled: bool | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for the fields sent: null would read as "keep", which a caller who
        # meant to clear something would not expect.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


def settings_out(current: MerchantSettings) -> SettingsOut:
    return SettingsOut(
        # what the pay page does with the stored value (anything else opens our page)
        pay_flow="hosted_checkout" if current.pay_flow == "hosted_checkout" else "iframe",
        fee_rate_bps=current.fee_rate_bps,
        fee_fixed_cents=current.fee_fixed_cents,
        receipts_enabled=current.receipts_enabled,
        updated_at=current.updated_at,
    )
