"""Order items and totals (spec §7).

Items: ``{type: sku|tax|shipping|discount, amount, quantity?, description?, parent?,
currency?, tax_rates?: [{name, rate} | {name, tax_rate_uuid}]}``. Tax rates are
Clover integers (10 % = 1_000_000). When no ``tax`` line is given, the sandbox adds one
(``description: "Sales Tax"``) with the tax computed from the sku lines' rates,
rounded half up per line. ``amount`` = skus x quantity + tax + shipping - discounts.
"""

from __future__ import annotations

from typing import Any

from . import _errors as E
from ._state import Merchant
from ._validate import MAX_AMOUNT, opt_int, opt_str

__all__ = ["ITEM_TYPES", "compute_items"]

ITEM_TYPES = ("sku", "tax", "shipping", "discount")


def _tax_rates(
    item: dict[str, Any], where: str, merchant: Merchant
) -> list[tuple[dict[str, Any], int]]:
    raw = item.get("tax_rates")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise E.invalid_param(f"{where}.tax_rates", "must be a list")
    rates: list[tuple[dict[str, Any], int]] = []
    for j, tr in enumerate(raw):
        p = f"{where}.tax_rates[{j}]"
        if not isinstance(tr, dict):
            raise E.invalid_param(p, "must be an object")
        name = opt_str(tr, "name", max_len=127, param=f"{p}.name")
        uuid = opt_str(tr, "tax_rate_uuid", max_len=64, param=f"{p}.tax_rate_uuid")
        rate = opt_int(tr, "rate", minimum=0, maximum=100_000_000, param=f"{p}.rate")
        if rate is None:
            if uuid is None:
                raise E.missing_param(f"{p}.rate", "field (or tax_rate_uuid)")
            known = merchant.tax_rates.get(uuid)
            if known is None:
                raise E.resource_missing("tax_rate", uuid, f"{p}.tax_rate_uuid")
            name = name or known[0]
            rate = known[1]
        out: dict[str, Any] = {"name": name or "Tax"}
        if uuid is not None:
            out["tax_rate_uuid"] = uuid
        else:
            out["rate"] = rate
        rates.append((out, rate))
    return rates


def compute_items(
    raw_items: Any, currency: str, merchant: Merchant, param: str = "items"
) -> tuple[list[dict[str, Any]], int, int]:
    """Validated items (with a computed tax line if needed), amount and tax."""
    if not isinstance(raw_items, list) or not raw_items:
        raise E.invalid_param(param, "must be a non-empty list of items")
    items: list[dict[str, Any]] = []
    subtotal = shipping = discount = explicit_tax = computed_tax = 0
    has_tax_line = False
    for i, item in enumerate(raw_items):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise E.invalid_param(where, "must be an object")
        kind = opt_str(item, "type", choices=ITEM_TYPES, param=f"{where}.type") or "sku"
        amount = opt_int(
            item, "amount", param=f"{where}.amount", minimum=-MAX_AMOUNT, maximum=MAX_AMOUNT
        )
        if amount is None:
            raise E.missing_param(f"{where}.amount")
        if kind != "discount" and amount < 0:
            raise E.invalid_param(f"{where}.amount", "must be >= 0")
        quantity = (
            opt_int(item, "quantity", minimum=1, maximum=100_000, param=f"{where}.quantity") or 1
        )
        description = opt_str(item, "description", max_len=255, param=f"{where}.description")
        parent = opt_str(item, "parent", max_len=64, param=f"{where}.parent")
        opt_str(item, "currency", max_len=3, param=f"{where}.currency")
        rates = _tax_rates(item, where, merchant)
        out: dict[str, Any] = {
            "type": kind,
            "amount": amount,
            "currency": currency,
            "quantity": quantity,
        }
        if description is not None:
            out["description"] = description
        if parent is not None:
            out["parent"] = parent
        if rates:
            out["tax_rates"] = [r for r, _ in rates]
        line = amount * quantity
        if kind == "sku":
            subtotal += line
            for _, rate in rates:
                computed_tax += (line * rate + 5_000_000) // 10_000_000
        elif kind == "tax":
            has_tax_line = True
            explicit_tax += line
        elif kind == "shipping":
            shipping += line
        else:
            discount += abs(line)
        items.append(out)
    tax = explicit_tax if has_tax_line else computed_tax
    if not has_tax_line and computed_tax:
        items.append(
            {
                "type": "tax",
                "amount": computed_tax,
                "currency": currency,
                "description": "Sales Tax",
            }
        )
    total = subtotal + tax + shipping - discount
    if total <= 0:
        raise E.invalid_param(param, "the order total must be greater than 0")
    if total > MAX_AMOUNT:
        raise E.amount_too_large(param, "the order total exceeds 99999999 cents")
    return items, total, tax
