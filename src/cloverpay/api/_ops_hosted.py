"""Request builders for Recurring (spec §10), Hosted Checkout (§11.1) and the Platform v3
subset. Shared by the sync and async resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloverpay.api._environments import Service
from cloverpay.api._errors import ConfigurationError
from cloverpay.api._models_base import DeletedObject, ListObject
from cloverpay.api._models_hosted import CheckoutSession, Plan, Subscription
from cloverpay.api._models_platform import Device, Merchant, Payment, PlatformOrder
from cloverpay.api._operation import (
    ListSpec,
    Operation,
    camelize,
    check_amount,
    check_str,
    json_body,
    parse_deleted,
    path_id,
    query,
)

R = Service.RECURRING
_plan = Plan.model_validate_json
_plans = ListObject[Plan].model_validate_json
_sub = Subscription.model_validate_json
_subs = ListObject[Subscription].model_validate_json
_deleted = parse_deleted


def _recurring(method: str, path: str, parse: Any, body: Any = None) -> Operation[Any]:
    return Operation(
        method,
        R,
        "/recurring/v1/" + path,
        parse,
        body=json_body(camelize(body)) if body is not None else None,
        send_merchant_id=True,
    )


def plan_create(params: Mapping[str, Any]) -> Operation[Plan]:
    check_str(params, "name", required=True)
    check_amount(params, "amount", required=True)
    check_str(params, "interval", required=True)
    return _recurring("POST", "plans", _plan, params)


def plan_retrieve(plan_id: str) -> Operation[Plan]:
    return _recurring("GET", "plans/" + path_id("plan_id", plan_id), _plan)


def plan_update(plan_id: str, params: Mapping[str, Any]) -> Operation[Plan]:
    check_amount(params, "amount", required=False)
    return _recurring("PUT", "plans/" + path_id("plan_id", plan_id), _plan, params)


def plan_delete(plan_id: str) -> Operation[DeletedObject]:
    return _recurring("DELETE", "plans/" + path_id("plan_id", plan_id), _deleted)


def plan_list() -> ListSpec[Plan]:
    return ListSpec(lambda q: _recurring("GET", "plans", _plans), {}, paging="single")


def subscription_create(plan_id: str, params: Mapping[str, Any]) -> Operation[Subscription]:
    check_str(params, "customer_id", required=True)
    check_amount(params, "amount", required=False)
    body = {"collection_method": "CHARGE_AUTOMATICALLY", **params}
    return _recurring("POST", f"plans/{path_id('plan_id', plan_id)}/subscriptions", _sub, body)


def subscription_retrieve(subscription_id: str) -> Operation[Subscription]:
    return _recurring("GET", "subscriptions/" + path_id("subscription_id", subscription_id), _sub)


def subscription_update(subscription_id: str, params: Mapping[str, Any]) -> Operation[Subscription]:
    check_amount(params, "amount", required=False)
    return _recurring(
        "PUT", "subscriptions/" + path_id("subscription_id", subscription_id), _sub, params
    )


def subscription_cancel(subscription_id: str) -> Operation[Any]:
    return _recurring(
        "DELETE",
        "subscriptions/" + path_id("subscription_id", subscription_id),
        _sub_or_deleted,
    )


def _sub_or_deleted(content: bytes) -> Subscription | DeletedObject:
    """DELETE may answer with the cancelled subscription or a deletion marker [G]."""
    if b'"id"' in content and b'"deleted"' not in content:
        return Subscription.model_validate_json(content)
    return parse_deleted(content)


def subscription_list(plan_id: str | None) -> ListSpec[Subscription]:
    path = (
        f"plans/{path_id('plan_id', plan_id)}/subscriptions"
        if plan_id is not None
        else "subscriptions"
    )
    return ListSpec(lambda q: _recurring("GET", path, _subs), {}, paging="single")


def checkout_session_create(params: Mapping[str, Any]) -> Operation[CheckoutSession]:
    cart = params.get("shopping_cart")
    if not isinstance(cart, Mapping) or not cart.get("line_items"):
        raise ConfigurationError(
            "shopping_cart.line_items needs at least one item", param="shopping_cart.line_items"
        )
    for i, item in enumerate(cart["line_items"]):
        check_str(item, "name", required=True)
        check_amount(item, "price", required=True)
        if len(item["name"]) >= 127:
            raise ConfigurationError(
                f"shopping_cart.line_items[{i}].name must be shorter than 127 characters",
                param=f"shopping_cart.line_items[{i}].name",
            )
    return Operation(
        "POST",
        Service.CHECKOUT,
        "/invoicingcheckoutservice/v1/checkouts",
        CheckoutSession.model_validate_json,
        body=json_body(camelize(params)),
        send_merchant_id=True,
    )


def checkout_session_retrieve(session_id: str) -> Operation[CheckoutSession]:
    return Operation(
        "GET",
        Service.CHECKOUT,
        "/invoicingcheckoutservice/v1/checkouts/" + path_id("session_id", session_id),
        CheckoutSession.model_validate_json,
        send_merchant_id=True,
    )


# ---------------------------------------------------------------- Platform REST v3

P = Service.REST
_payments = ListObject[Payment].model_validate_json
_devices = ListObject[Device].model_validate_json
_porders = ListObject[PlatformOrder].model_validate_json


def merchant_get(merchant_id: str) -> Operation[Merchant]:
    return Operation("GET", P, "/v3/merchants/" + merchant_id, Merchant.model_validate_json)


def _platform_list(
    merchant_id: str, what: str, parse: Any, params: Mapping[str, Any]
) -> ListSpec[Any]:
    p = dict(params)
    filters = p.pop("filter", None)
    if isinstance(filters, str):
        filters = [filters]
    ext = p.pop("external_payment_id", None)
    if ext is not None:
        check_str({"external_payment_id": ext}, "external_payment_id", required=True)
        filters = [*(filters or []), f"externalPaymentId={ext}"]
    q = query(p, renames={"order_by": "orderBy"})
    q.setdefault("limit", "100")
    path = f"/v3/merchants/{merchant_id}/{what}"
    extra = [("filter", f) for f in filters or ()]

    def make(page: dict[str, str]) -> Operation[Any]:
        # several filters repeat the name "filter", so pass pairs, not a dict
        return Operation("GET", P, path, parse, params=[*page.items(), *extra] if extra else page)

    return ListSpec(make, q, paging="offset", default_limit=100)


def payment_list(merchant_id: str, params: Mapping[str, Any]) -> ListSpec[Payment]:
    return _platform_list(merchant_id, "payments", _payments, params)


def payment_retrieve(merchant_id: str, payment_id: str) -> Operation[Payment]:
    return Operation(
        "GET",
        P,
        f"/v3/merchants/{merchant_id}/payments/{path_id('payment_id', payment_id)}",
        Payment.model_validate_json,
    )


def device_list(merchant_id: str, params: Mapping[str, Any]) -> ListSpec[Device]:
    return _platform_list(merchant_id, "devices", _devices, params)


def platform_order_retrieve(merchant_id: str, order_id: str) -> Operation[PlatformOrder]:
    return Operation(
        "GET",
        P,
        f"/v3/merchants/{merchant_id}/orders/{path_id('order_id', order_id)}",
        PlatformOrder.model_validate_json,
    )


def platform_order_list(merchant_id: str, params: Mapping[str, Any]) -> ListSpec[PlatformOrder]:
    return _platform_list(merchant_id, "orders", _porders, params)
