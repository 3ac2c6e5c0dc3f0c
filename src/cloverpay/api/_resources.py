"""Resource namespaces of :class:`~cloverpay.api.CloverClient` (sync).

Each method is one line: build the operation (``_ops_*``), run it. The async twins
in ``_resources_async.py`` mirror this file method for method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from cloverpay.api import _ops_ecommerce as ops
from cloverpay.api import _ops_hosted as hops
from cloverpay.api._models_base import DeletedObject
from cloverpay.api._models_ecommerce import (
    Charge,
    Customer,
    Order,
    OrderReturn,
    PakmsKey,
    Refund,
    Token,
)
from cloverpay.api._models_hosted import CheckoutSession, Plan, Subscription
from cloverpay.api._models_platform import Device, Merchant, Payment, PlatformOrder
from cloverpay.api._paging import SyncPager
from cloverpay.api._params import (
    CardParams,
    ChargeCaptureParams,
    ChargeCreateParams,
    ChargeListParams,
    CheckoutSessionCreateParams,
    CustomerCreateParams,
    CustomerListParams,
    CustomerUpdateParams,
    OrderCreateParams,
    OrderListParams,
    OrderPayParams,
    OrderReturnParams,
    OrderUpdateParams,
    PaymentListParams,
    PlanCreateParams,
    PlanUpdateParams,
    PlatformListParams,
    RefundCreateParams,
    RefundListParams,
    SubscriptionCreateParams,
    SubscriptionUpdateParams,
)

if TYPE_CHECKING:
    from cloverpay.api._client import CloverClient

__all__ = [
    "Charges",
    "Checkout",
    "CheckoutSessions",
    "Customers",
    "Orders",
    "Pakms",
    "Plans",
    "Platform",
    "PlatformDevices",
    "PlatformOrders",
    "PlatformPayments",
    "Recurring",
    "Refunds",
    "Subscriptions",
    "Tokens",
]


class _Resource:
    __slots__ = ("_c",)

    def __init__(self, client: CloverClient) -> None:
        self._c = client


class Pakms(_Resource):
    def get(self) -> PakmsKey:
        """``GET /pakms/apikey``: the merchant's public key; the client keeps it for tokens."""
        key = self._c._request(ops.pakms_get())
        if not self._c._core.api_access_key:
            self._c._core.api_access_key = key.api_access_key
        return key


class Tokens(_Resource):
    def create(
        self,
        *,
        card: CardParams | None = None,
        ach: dict[str, Any] | None = None,
        gift_card: dict[str, Any] | None = None,
    ) -> Token:
        """``POST /v1/tokens`` with the ``apikey`` header (fetched via PAKMS if not given)."""
        op = ops.token_create({"card": card, "ach": ach, "gift_card": gift_card})
        if not self._c._core.api_access_key:
            self._c.pakms.get()
        return self._c._request(op)


class Charges(_Resource):
    def create(
        self,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[ChargeCreateParams],
    ) -> Charge:
        """``POST /v1/charges``. One idempotency key per call, kept across retries."""
        return self._c._request(
            ops.charge_create(params, idempotency_key=idempotency_key, client_ip=client_ip)
        )

    def retrieve(self, charge_id: str) -> Charge:
        return self._c._request(ops.charge_retrieve(charge_id))

    def list(self, **params: Unpack[ChargeListParams]) -> SyncPager[Charge]:
        return SyncPager(self._c._request, ops.charge_list(params))

    def capture(
        self,
        charge_id: str,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[ChargeCaptureParams],
    ) -> Charge:
        return self._c._request(
            ops.charge_capture(
                charge_id, params, idempotency_key=idempotency_key, client_ip=client_ip
            )
        )


class Orders(_Resource):
    def create(self, **params: Unpack[OrderCreateParams]) -> Order:
        return self._c._request(ops.order_create(params))

    def retrieve(self, order_id: str) -> Order:
        return self._c._request(ops.order_retrieve(order_id))

    def list(self, **params: Unpack[OrderListParams]) -> SyncPager[Order]:
        return SyncPager(self._c._request, ops.order_list(params))

    def update(self, order_id: str, **params: Unpack[OrderUpdateParams]) -> Order:
        return self._c._request(ops.order_update(order_id, params))

    def pay(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[OrderPayParams],
    ) -> Order:
        return self._c._request(
            ops.order_pay(order_id, params, idempotency_key=idempotency_key, client_ip=client_ip)
        )

    def returns(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        **params: Unpack[OrderReturnParams],
    ) -> OrderReturn:
        return self._c._request(
            ops.order_returns(order_id, params, idempotency_key=idempotency_key)
        )


class Customers(_Resource):
    def create(self, **params: Unpack[CustomerCreateParams]) -> Customer:
        return self._c._request(ops.customer_create(params))

    def retrieve(self, customer_id: str) -> Customer:
        return self._c._request(ops.customer_retrieve(customer_id))

    def update(self, customer_id: str, **params: Unpack[CustomerUpdateParams]) -> Customer:
        return self._c._request(ops.customer_update(customer_id, params))

    def delete(self, customer_id: str) -> DeletedObject:
        return self._c._request(ops.customer_delete(customer_id))

    def delete_source(self, customer_id: str, source_id: str) -> DeletedObject:
        return self._c._request(ops.customer_delete_source(customer_id, source_id))

    def list(self, **params: Unpack[CustomerListParams]) -> SyncPager[Customer]:
        return SyncPager(self._c._request, ops.customer_list(params))


class Refunds(_Resource):
    def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[RefundCreateParams]
    ) -> Refund:
        return self._c._request(ops.refund_create(params, idempotency_key=idempotency_key))

    def retrieve(self, refund_id: str) -> Refund:
        return self._c._request(ops.refund_retrieve(refund_id))

    def list(self, **params: Unpack[RefundListParams]) -> SyncPager[Refund]:
        return SyncPager(self._c._request, ops.refund_list(params))


class Plans(_Resource):
    def create(self, **params: Unpack[PlanCreateParams]) -> Plan:
        return self._c._request(hops.plan_create(params))

    def retrieve(self, plan_id: str) -> Plan:
        return self._c._request(hops.plan_retrieve(plan_id))

    def list(self) -> SyncPager[Plan]:
        return SyncPager(self._c._request, hops.plan_list())

    def update(self, plan_id: str, **params: Unpack[PlanUpdateParams]) -> Plan:
        return self._c._request(hops.plan_update(plan_id, params))

    def delete(self, plan_id: str) -> DeletedObject:
        return self._c._request(hops.plan_delete(plan_id))


class Subscriptions(_Resource):
    def create(self, plan_id: str, **params: Unpack[SubscriptionCreateParams]) -> Subscription:
        return self._c._request(hops.subscription_create(plan_id, params))

    def retrieve(self, subscription_id: str) -> Subscription:
        return self._c._request(hops.subscription_retrieve(subscription_id))

    def list(self, plan_id: str | None = None) -> SyncPager[Subscription]:
        return SyncPager(self._c._request, hops.subscription_list(plan_id))

    def update(
        self, subscription_id: str, **params: Unpack[SubscriptionUpdateParams]
    ) -> Subscription:
        return self._c._request(hops.subscription_update(subscription_id, params))

    def cancel(self, subscription_id: str) -> Subscription | DeletedObject:
        return self._c._request(hops.subscription_cancel(subscription_id))  # type: ignore[no-any-return]


class Recurring:
    """``/recurring/v1``: ``plans`` and ``subscriptions`` (header X-Clover-Merchant-Id)."""

    __slots__ = ("plans", "subscriptions")

    def __init__(self, client: CloverClient) -> None:
        self.plans = Plans(client)
        self.subscriptions = Subscriptions(client)


class CheckoutSessions(_Resource):
    def create(self, **params: Unpack[CheckoutSessionCreateParams]) -> CheckoutSession:
        return self._c._request(hops.checkout_session_create(params))

    def retrieve(self, session_id: str) -> CheckoutSession:
        return self._c._request(hops.checkout_session_retrieve(session_id))


class Checkout:
    """Hosted Checkout: ``sessions``."""

    __slots__ = ("sessions",)

    def __init__(self, client: CloverClient) -> None:
        self.sessions = CheckoutSessions(client)


class PlatformDevices(_Resource):
    def list(self, **params: Unpack[PlatformListParams]) -> SyncPager[Device]:
        return SyncPager(self._c._request, hops.device_list(self._c._mid(), params))


class PlatformPayments(_Resource):
    def list(self, **params: Unpack[PaymentListParams]) -> SyncPager[Payment]:
        """List payments; ``external_payment_id=`` finds the payment a POS started."""
        return SyncPager(self._c._request, hops.payment_list(self._c._mid(), params))

    def retrieve(self, payment_id: str) -> Payment:
        return self._c._request(hops.payment_retrieve(self._c._mid(), payment_id))


class PlatformOrders(_Resource):
    def retrieve(self, order_id: str) -> PlatformOrder:
        return self._c._request(hops.platform_order_retrieve(self._c._mid(), order_id))

    def list(self, **params: Unpack[PlatformListParams]) -> SyncPager[PlatformOrder]:
        return SyncPager(self._c._request, hops.platform_order_list(self._c._mid(), params))


class Platform(_Resource):
    """Platform REST v3 subset (``/v3/merchants/{mId}/…``)."""

    __slots__ = ("devices", "orders", "payments")

    def __init__(self, client: CloverClient) -> None:
        super().__init__(client)
        self.devices = PlatformDevices(client)
        self.payments = PlatformPayments(client)
        self.orders = PlatformOrders(client)

    def merchant(self) -> Merchant:
        return self._c._request(hops.merchant_get(self._c._mid()))
