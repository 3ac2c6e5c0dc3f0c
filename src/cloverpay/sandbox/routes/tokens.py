"""Tokenizer (token host, spec §5) and the TransArmor ``keys.json``.

* ``POST /v1/tokens`` (header ``apikey``): ``{"card": {...}}`` with ``number`` or
  ``encrypted_pan``, ``exp_month``, ``exp_year``, ``cvv``. Checks, in order: PAN
  (digits, Luhn -> ``invalid_number``; undecryptable ``encrypted_pan`` ->
  ``invalid_request``), brand (``invalid_card_type``), expiry month/year
  (``invalid_expiry_month`` / ``invalid_expiry_year``), expiry in the past by the
  sandbox clock (``expired_card``), CVV 3-4 digits (``invalid_cvc``). Only brand,
  first6, last4 and expiry are kept, plus the charge outcome from :mod:`.._cards`.
* ``POST /v1/tokens`` with ``{"ach": {bank_account_number (10-12 digits),
  bank_routing_number (9), account_type?, check_type?, ...}}`` or ``{"gift_card":
  {card_number (6/13/16/19 digits), security_code? (4-8)}}`` (spec §5.3 [C1]): tokens
  that keep only last-four digits (``ach: {account_last4, routing_last4}``,
  ``giftCard: {last4}``) and always approve when charged.
* ``GET /v1/tokens/{id}``: token details (token-openapi shape [C1]).
* ``PUT /v1/tokens/{id}`` ``{"type": "MULTIPAY"|"RECURRING"|"ONEOFF"}``.
* ``GET /assets/keys.json``: the sandbox's RSA key in Clover's layout.

CORS (preflight included) is handled by the middleware for these paths.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import _errors as E
from .._auth import require_api_key, state_of
from .._cards import BRANDS, card_brand, luhn_valid, outcome_for
from .._crypto import decrypt_pan, keys_json
from .._http import json_body, json_response, mark_committed
from .._records import CardToken
from .._validate import opt_dict, opt_str, valid_email

__all__ = ["routes"]

_BRAND_ALIASES = {"MASTERCARD": "MC", "DINERS": "DINERS_CLUB", "DINERSCLUB": "DINERS_CLUB"}


def _string_field(card: dict[str, Any], name: str, where: str = "card") -> str | None:
    value = card.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise E.invalid_param(f"{where}.{name}", "must be a string")
    return value.strip()


def _pan(card: dict[str, Any]) -> str:
    number = _string_field(card, "number")
    encrypted = _string_field(card, "encrypted_pan")
    if number:
        pan = number.replace(" ", "").replace("-", "")
        if not luhn_valid(pan):
            raise E.invalid_number("card.number")
        return pan
    if encrypted:
        decrypted = decrypt_pan(encrypted)
        if decrypted is None:
            raise E.invalid_request(
                "card.encrypted_pan is not a valid encrypted PAN for the sandbox key "
                "(RSA-OAEP SHA-1 over '00000000' + PAN, key from /assets/keys.json)",
                "card.encrypted_pan",
            )
        if not luhn_valid(decrypted):
            raise E.invalid_number("card.encrypted_pan")
        return decrypted
    raise E.missing_param("card.number", "field (or card.encrypted_pan)")


def _brand(card: dict[str, Any], pan: str) -> str:
    given = _string_field(card, "brand")
    if given:
        normal = given.upper().replace(" ", "_")
        normal = _BRAND_ALIASES.get(normal, normal)
        if normal not in BRANDS:
            raise E.invalid_card_type("card.brand")
    detected = card_brand(pan)
    if detected is not None:
        return detected
    if given:
        return _BRAND_ALIASES.get(given.upper(), given.upper())
    raise E.invalid_card_type("card.number")


def _expiry(card: dict[str, Any], now_year: int, now_month: int) -> tuple[str, str]:
    month = _string_field(card, "exp_month")
    if month is None:
        raise E.missing_param("card.exp_month")
    if not (month.isdigit() and 1 <= len(month) <= 2 and 1 <= int(month) <= 12):
        raise E.invalid_expiry_month()
    year = _string_field(card, "exp_year")
    if year is None:
        raise E.missing_param("card.exp_year")
    if not (year.isdigit() and len(year) in (2, 4)):
        raise E.invalid_expiry_year()
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    if (full_year, int(month)) < (now_year, now_month):
        raise E.expired_card()
    return f"{int(month):02d}", str(full_year)


def _cvv(card: dict[str, Any]) -> None:
    cvv = _string_field(card, "cvv")
    if cvv is None:
        raise E.missing_param("card.cvv")
    if not (cvv.isdigit() and 3 <= len(cvv) <= 4):
        raise E.invalid_cvc()


def _digits(obj: dict[str, Any], name: str, where: str, lengths: tuple[int, ...]) -> str:
    value = _string_field(obj, name, where)
    if value is None:
        raise E.missing_param(f"{where}.{name}")
    if not value.isdigit() or len(value) not in lengths:
        allowed = ", ".join(map(str, lengths))
        raise E.invalid_param(f"{where}.{name}", f"must be {allowed} digits")
    return value


def _ach(ach: dict[str, Any]) -> dict[str, str]:
    """ACH token fields (spec §5.3 [C1]); only the last four digits are kept."""
    account = _digits(ach, "bank_account_number", "ach", (10, 11, 12))
    routing = _digits(ach, "bank_routing_number", "ach", (9,))
    opt_str(ach, "account_type", choices=("checking", "savings"), param="ach.account_type")
    opt_str(
        ach, "check_type", choices=("personal_check", "corporate_check"), param="ach.check_type"
    )
    opt_str(
        ach,
        "customer_id_type",
        choices=("driver_license", "ssn", "tax_id", "military_id"),
        param="ach.customer_id_type",
    )
    for name in ("first_name", "last_name", "business_name", "phone", "address_zip"):
        opt_str(ach, name, max_len=255, param=f"ach.{name}")
    email = ach.get("email")
    if email is not None and (not isinstance(email, str) or not valid_email(email)):
        raise E.email_invalid("ach.email")
    return {"account_last4": account[-4:], "routing_last4": routing[-4:]}


def _gift_card(gift: dict[str, Any]) -> dict[str, str]:
    """Gift-card token fields (spec §5.3 [C1]); only the last four digits are kept."""
    number = _digits(gift, "card_number", "gift_card", (6, 13, 16, 19))
    code = _string_field(gift, "security_code", "gift_card")
    if code is not None and not (code.isdigit() and 4 <= len(code) <= 8):
        raise E.invalid_param("gift_card.security_code", "must be 4 to 8 digits")
    return {"last4": number[-4:]}


def _other_token(request: Request, body: dict[str, Any]) -> Response | None:
    """ACH and gift-card tokens; ``None`` when the body is a card."""
    merchant = require_api_key(request)
    state = state_of(request)
    ach = opt_dict(body, "ach")
    gift = opt_dict(body, "gift_card")
    if ach is None and gift is None:
        return None
    details = _ach(ach) if ach is not None else _gift_card(gift or {})
    with state.lock:
        token = CardToken(
            id=state.ids.token(),
            merchant_id=merchant.merchant_id,
            created_ms=state.clock.now_ms(),
            brand="ACH" if ach is not None else "GIFT_CARD",
            first6="",
            last4=details.get("last4") or details["account_last4"],
            exp_month="",
            exp_year="",
            instrument="ACH" if ach is not None else "GIFT_CARD",
            details=details,
        )
        state.ecommerce.tokens.add(token.id, token, token.created_ms)
    mark_committed(request)
    return json_response(token.to_json())


async def create_token(request: Request) -> Response:
    merchant = require_api_key(request)
    state = state_of(request)
    body = json_body(request)
    card = opt_dict(body, "card")
    if card is None:
        other = _other_token(request, body)
        if other is not None:
            return other
        raise E.missing_param("card", "object (or ach / gift_card)")
    pan = _pan(card)
    brand = _brand(card, pan)
    from datetime import UTC, datetime

    now = datetime.fromtimestamp(state.clock.now(), UTC)
    exp_month, exp_year = _expiry(card, now.year, now.month)
    _cvv(card)
    name = opt_str(card, "name", max_len=255, param="card.name")
    zip_code = opt_str(card, "address_zip", max_len=20, param="card.address_zip")
    outcome = outcome_for(pan)
    with state.lock:
        token = CardToken(
            id=state.ids.token(),
            merchant_id=merchant.merchant_id,
            created_ms=state.clock.now_ms(),
            brand=brand,
            first6=pan[:6],
            last4=pan[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            decline_code=outcome.decline_code,
            decline_message=None if outcome.approved else outcome.message,
            name=name,
            address_zip=zip_code,
            cvc_check=outcome.cvc_check,
        )
        state.ecommerce.tokens.add(token.id, token, token.created_ms)
    del pan
    mark_committed(request)
    return json_response(token.to_json())


async def get_token(request: Request) -> Response:
    merchant = require_api_key(request)
    state = state_of(request)
    token = state.ecommerce.tokens.require(request.path_params["token_id"], merchant.merchant_id)
    token.last_accessed_ms = state.clock.now_ms()
    return json_response(token.detail_json())


async def update_token(request: Request) -> Response:
    merchant = require_api_key(request)
    state = state_of(request)
    body = json_body(request)
    new_type = opt_str(body, "type", choices=("ONEOFF", "MULTIPAY", "RECURRING"))
    if new_type is None:
        raise E.missing_param("type")
    with state.lock:
        token = state.ecommerce.tokens.require(
            request.path_params["token_id"], merchant.merchant_id
        )
        if token.used and token.type == "ONEOFF":
            raise E.token_already_used(token.id)
        token.type = new_type  # type: ignore[assignment]
    mark_committed(request)
    return json_response(token.detail_json())


async def keys(request: Request) -> Response:
    return json_response(keys_json())


routes: list[BaseRoute] = [
    Route("/v1/tokens", create_token, methods=["POST"]),
    Route("/v1/tokens/{token_id}", get_token, methods=["GET"]),
    Route("/v1/tokens/{token_id}", update_token, methods=["PUT"]),
    Route("/assets/keys.json", keys, methods=["GET"]),
]
