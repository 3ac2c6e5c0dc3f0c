"""Request builders for the Ecommerce API: PAKMS, tokens, charges, orders, customers,
refunds (spec §4-9). Shared by the sync and async resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloverpay.api._environments import Service
from cloverpay.api._errors import ConfigurationError
from cloverpay.api._models_base import DeletedObject, ListObject
from cloverpay.api._models_ecommerce import (
    Charge,
    Customer,
    Order,
    OrderReturn,
    PakmsKey,
    Refund,
    Token,
)
from cloverpay.api._operation import (
    ListSpec,
    Operation,
    check_amount,
    check_str,
    json_body,
    money_key,
    normalise_currency,
    parse_deleted,
    path_id,
    query,
)
from cloverpay.api._operation import (
    client_ip as check_ip,
)

E = Service.ECOMMERCE
MAX_PAGE = 100

_charge = Charge.model_validate_json
_charges = ListObject[Charge].model_validate_json
_order = Order.model_validate_json
_orders = ListObject[Order].model_validate_json
_customer = Customer.model_validate_json
_customers = ListObject[Customer].model_validate_json
_refund = Refund.model_validate_json
_refunds = ListObject[Refund].model_validate_json
_deleted = parse_deleted


def pakms_get() -> Operation[PakmsKey]:
    return Operation("GET", E, "/pakms/apikey", PakmsKey.model_validate_json)


def token_create(params: Mapping[str, Any]) -> Operation[Token]:
    kinds = [k for k in ("card", "ach", "gift_card") if params.get(k) is not None]
    if len(kinds) != 1:
        raise ConfigurationError(
            "tokens.create needs exactly one of card=, ach=, gift_card=", param="card"
        )
    if kinds == ["card"]:
        card = dict(params["card"])
        has_number, has_encrypted = bool(card.get("number")), bool(card.get("encrypted_pan"))
        if has_number == has_encrypted:
            raise ConfigurationError(
                "card needs exactly one of number or encrypted_pan", param="card.number"
            )
        if has_encrypted and not (card.get("first6") and card.get("last4")):
            raise ConfigurationError(
                "card.first6 and card.last4 are required with encrypted_pan", param="card.first6"
            )
        if has_number:
            number = card["number"]
            if not isinstance(number, str) or not number.replace(" ", "").isdigit():
                raise ConfigurationError(
                    "card.number must be a string of digits", param="card.number"
                )
            card["number"] = number.replace(" ", "")
        for field in ("exp_month", "exp_year", "cvv"):
            value = card.get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                value = f"{value:02d}" if field == "exp_month" else str(value)
                card[field] = value
            if not isinstance(value, str) or not value:
                raise ConfigurationError(
                    f"card.{field} is required (a string)", param=f"card.{field}"
                )
        body = {"card": card}
    else:
        body = {kinds[0]: params[kinds[0]]}
    # Creating a token has no lasting effect, so a replay is harmless.
    return Operation(
        "POST",
        Service.TOKENS,
        "/v1/tokens",
        Token.model_validate_json,
        body=json_body(body),
        send_api_key=True,
        replay_safe_override=True,
    )


def charge_create(
    params: Mapping[str, Any], *, idempotency_key: str | None, client_ip: str | None
) -> Operation[Charge]:
    p = dict(params)
    check_amount(p, "amount", required=True)
    normalise_currency(p, required=True)
    check_str(p, "source", required=True)
    for name in ("tip_amount", "tax_amount"):
        check_amount(p, name, required=False)
    if p["source"] == "alternate_tender" and not p.get("tender"):
        raise ConfigurationError(
            "source='alternate_tender' needs tender= (e.g. **alternate_tender('cash'))",
            param="tender",
        )
    return Operation(
        "POST",
        E,
        "/v1/charges",
        _charge,
        body=json_body(p),
        idempotency_key=money_key(idempotency_key),
        moves_money=True,
        client_ip=check_ip(client_ip),
        needs_client_ip=True,
    )


def charge_retrieve(charge_id: str) -> Operation[Charge]:
    return Operation("GET", E, "/v1/charges/" + path_id("charge_id", charge_id), _charge)


def charge_capture(
    charge_id: str,
    params: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    client_ip: str | None,
) -> Operation[Charge]:
    check_amount(params, "amount", required=False)
    return Operation(
        "POST",
        E,
        f"/v1/charges/{path_id('charge_id', charge_id)}/capture",
        _charge,
        body=json_body(params),
        idempotency_key=money_key(idempotency_key),
        moves_money=True,
        client_ip=check_ip(client_ip),
    )


def _list(path: str, parse: Any, params: Mapping[str, Any]) -> ListSpec[Any]:
    def make(q: dict[str, str]) -> Operation[Any]:
        return Operation("GET", E, path, parse, params=q)

    q = query(params)
    # Pages of Clover's maximum (100, not its default 10): fewer calls under the rate limit.
    q.setdefault("limit", str(MAX_PAGE))
    return ListSpec(make, q, default_limit=MAX_PAGE)


def charge_list(params: Mapping[str, Any]) -> ListSpec[Charge]:
    return _list("/v1/charges", _charges, params)


def order_create(params: Mapping[str, Any]) -> Operation[Order]:
    p = dict(params)
    normalise_currency(p, required=True)
    for i, item in enumerate(p.get("items") or ()):
        if not isinstance(item, Mapping) or "type" not in item:
            raise ConfigurationError(f"items[{i}].type is required", param=f"items[{i}].type")
        check_amount(item, "amount", required=False)
    return Operation("POST", E, "/v1/orders", _order, body=json_body(p))


def order_retrieve(order_id: str) -> Operation[Order]:
    return Operation("GET", E, "/v1/orders/" + path_id("order_id", order_id), _order)


def order_update(order_id: str, params: Mapping[str, Any]) -> Operation[Order]:
    return Operation(
        "PUT", E, "/v1/orders/" + path_id("order_id", order_id), _order, body=json_body(params)
    )


def order_list(params: Mapping[str, Any]) -> ListSpec[Order]:
    return _list("/v1/orders", _orders, params)


def order_pay(
    order_id: str,
    params: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    client_ip: str | None,
) -> Operation[Order]:
    if not params.get("source") and not params.get("customer"):
        raise ConfigurationError("orders.pay needs source= or customer=", param="source")
    check_amount(params, "amount", required=False)
    check_amount(params, "tip_amount", required=False)
    return Operation(
        "POST",
        E,
        f"/v1/orders/{path_id('order_id', order_id)}/pay",
        _order,
        body=json_body(params),
        idempotency_key=money_key(idempotency_key),
        moves_money=True,
        client_ip=check_ip(client_ip),
        needs_client_ip=True,
    )


def order_returns(
    order_id: str, params: Mapping[str, Any], *, idempotency_key: str | None
) -> Operation[OrderReturn]:
    check_amount(params, "amount", required=False)
    return Operation(
        "POST",
        E,
        f"/v1/orders/{path_id('order_id', order_id)}/returns",
        OrderReturn.model_validate_json,
        body=json_body(params),
        idempotency_key=money_key(idempotency_key),
        moves_money=True,
    )


_CUSTOMER_WIRE = {"first_name": "firstName", "last_name": "lastName"}


def _customer_body(params: Mapping[str, Any]) -> bytes:
    return json_body({_CUSTOMER_WIRE.get(k, k): v for k, v in params.items()})


def customer_create(params: Mapping[str, Any]) -> Operation[Customer]:
    check_str(params, "email", required=True)
    return Operation("POST", E, "/v1/customers", _customer, body=_customer_body(params))


def customer_retrieve(customer_id: str) -> Operation[Customer]:
    return Operation("GET", E, "/v1/customers/" + path_id("customer_id", customer_id), _customer)


def customer_update(customer_id: str, params: Mapping[str, Any]) -> Operation[Customer]:
    return Operation(
        "PUT",
        E,
        "/v1/customers/" + path_id("customer_id", customer_id),
        _customer,
        body=_customer_body(params),
    )


def customer_delete(customer_id: str) -> Operation[DeletedObject]:
    return Operation("DELETE", E, "/v1/customers/" + path_id("customer_id", customer_id), _deleted)


def customer_delete_source(customer_id: str, source_id: str) -> Operation[DeletedObject]:
    return Operation(
        "DELETE",
        E,
        f"/v1/customers/{path_id('customer_id', customer_id)}/sources/"
        f"{path_id('source_id', source_id)}",
        _deleted,
    )


def customer_list(params: Mapping[str, Any]) -> ListSpec[Customer]:
    return _list("/v1/customers", _customers, params)


def refund_create(params: Mapping[str, Any], *, idempotency_key: str | None) -> Operation[Refund]:
    path_id("charge", params.get("charge"))
    check_amount(params, "amount", required=False)
    return Operation(
        "POST",
        E,
        "/v1/refunds",
        _refund,
        body=json_body(params),
        idempotency_key=money_key(idempotency_key),
        moves_money=True,
    )


def refund_retrieve(refund_id: str) -> Operation[Refund]:
    return Operation("GET", E, "/v1/refunds/" + path_id("refund_id", refund_id), _refund)


def refund_list(params: Mapping[str, Any]) -> ListSpec[Refund]:
    return _list("/v1/refunds", _refunds, params)
