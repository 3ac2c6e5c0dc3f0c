"""Resource namespaces of :class:`~cloverpay.api.AsyncCloverClient`.

The twin of ``_resources.py``, method for method: build the operation (``_ops_*``),
await it. List methods return an :class:`AsyncPager` at once (use ``async for``).
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
from cloverpay.api._paging import AsyncPager
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
    from cloverpay.api._client_async import AsyncCloverClient

__all__ = [
    "AsyncCharges",
    "AsyncCheckout",
    "AsyncCheckoutSessions",
    "AsyncCustomers",
    "AsyncOrders",
    "AsyncPakms",
    "AsyncPlans",
    "AsyncPlatform",
    "AsyncPlatformDevices",
    "AsyncPlatformOrders",
    "AsyncPlatformPayments",
    "AsyncRecurring",
    "AsyncRefunds",
    "AsyncSubscriptions",
    "AsyncTokens",
]


class _Resource:
    __slots__ = ("_c",)

    def __init__(self, client: AsyncCloverClient) -> None:
        self._c = client


class AsyncPakms(_Resource):
    async def get(self) -> PakmsKey:
        """``GET /pakms/apikey``: the merchant's public key; the client keeps it for tokens."""
        key = await self._c._request(ops.pakms_get())
        if not self._c._core.api_access_key:
            self._c._core.api_access_key = key.api_access_key
        return key


class AsyncTokens(_Resource):
    async def create(
        self,
        *,
        card: CardParams | None = None,
        ach: dict[str, Any] | None = None,
        gift_card: dict[str, Any] | None = None,
    ) -> Token:
        """``POST /v1/tokens`` with the ``apikey`` header (fetched via PAKMS if not given)."""
        op = ops.token_create({"card": card, "ach": ach, "gift_card": gift_card})
        if not self._c._core.api_access_key:
            await self._c.pakms.get()
        return await self._c._request(op)


class AsyncCharges(_Resource):
    async def create(
        self,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[ChargeCreateParams],
    ) -> Charge:
        """``POST /v1/charges``. One idempotency key per call, kept across retries."""
        return await self._c._request(
            ops.charge_create(params, idempotency_key=idempotency_key, client_ip=client_ip)
        )

    async def retrieve(self, charge_id: str) -> Charge:
        return await self._c._request(ops.charge_retrieve(charge_id))

    def list(self, **params: Unpack[ChargeListParams]) -> AsyncPager[Charge]:
        return AsyncPager(self._c._request, ops.charge_list(params))

    async def capture(
        self,
        charge_id: str,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[ChargeCaptureParams],
    ) -> Charge:
        return await self._c._request(
            ops.charge_capture(
                charge_id, params, idempotency_key=idempotency_key, client_ip=client_ip
            )
        )


class AsyncOrders(_Resource):
    async def create(self, **params: Unpack[OrderCreateParams]) -> Order:
        return await self._c._request(ops.order_create(params))

    async def retrieve(self, order_id: str) -> Order:
        return await self._c._request(ops.order_retrieve(order_id))

    def list(self, **params: Unpack[OrderListParams]) -> AsyncPager[Order]:
        return AsyncPager(self._c._request, ops.order_list(params))

    async def update(self, order_id: str, **params: Unpack[OrderUpdateParams]) -> Order:
        return await self._c._request(ops.order_update(order_id, params))

    async def pay(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        client_ip: str | None = None,
        **params: Unpack[OrderPayParams],
    ) -> Order:
        return await self._c._request(
            ops.order_pay(order_id, params, idempotency_key=idempotency_key, client_ip=client_ip)
        )

    async def returns(
        self,
        order_id: str,
        *,
        idempotency_key: str | None = None,
        **params: Unpack[OrderReturnParams],
    ) -> OrderReturn:
        return await self._c._request(
            ops.order_returns(order_id, params, idempotency_key=idempotency_key)
        )


class AsyncCustomers(_Resource):
    async def create(self, **params: Unpack[CustomerCreateParams]) -> Customer:
        return await self._c._request(ops.customer_create(params))

    async def retrieve(self, customer_id: str) -> Customer:
        return await self._c._request(ops.customer_retrieve(customer_id))

    async def update(self, customer_id: str, **params: Unpack[CustomerUpdateParams]) -> Customer:
        return await self._c._request(ops.customer_update(customer_id, params))

    async def delete(self, customer_id: str) -> DeletedObject:
        return await self._c._request(ops.customer_delete(customer_id))

    async def delete_source(self, customer_id: str, source_id: str) -> DeletedObject:
        return await self._c._request(ops.customer_delete_source(customer_id, source_id))

    def list(self, **params: Unpack[CustomerListParams]) -> AsyncPager[Customer]:
        return AsyncPager(self._c._request, ops.customer_list(params))


class AsyncRefunds(_Resource):
    async def create(
        self, *, idempotency_key: str | None = None, **params: Unpack[RefundCreateParams]
    ) -> Refund:
        return await self._c._request(ops.refund_create(params, idempotency_key=idempotency_key))

    async def retrieve(self, refund_id: str) -> Refund:
        return await self._c._request(ops.refund_retrieve(refund_id))

    def list(self, **params: Unpack[RefundListParams]) -> AsyncPager[Refund]:
        return AsyncPager(self._c._request, ops.refund_list(params))


class AsyncPlans(_Resource):
    async def create(self, **params: Unpack[PlanCreateParams]) -> Plan:
        return await self._c._request(hops.plan_create(params))

    async def retrieve(self, plan_id: str) -> Plan:
        return await self._c._request(hops.plan_retrieve(plan_id))

    def list(self) -> AsyncPager[Plan]:
        return AsyncPager(self._c._request, hops.plan_list())

    async def update(self, plan_id: str, **params: Unpack[PlanUpdateParams]) -> Plan:
        return await self._c._request(hops.plan_update(plan_id, params))

    async def delete(self, plan_id: str) -> DeletedObject:
        return await self._c._request(hops.plan_delete(plan_id))


class AsyncSubscriptions(_Resource):
    async def create(
        self, plan_id: str, **params: Unpack[SubscriptionCreateParams]
    ) -> Subscription:
        return await self._c._request(hops.subscription_create(plan_id, params))

    async def retrieve(self, subscription_id: str) -> Subscription:
        return await self._c._request(hops.subscription_retrieve(subscription_id))

    def list(self, plan_id: str | None = None) -> AsyncPager[Subscription]:
        return AsyncPager(self._c._request, hops.subscription_list(plan_id))

    async def update(
        self, subscription_id: str, **params: Unpack[SubscriptionUpdateParams]
    ) -> Subscription:
        return await self._c._request(hops.subscription_update(subscription_id, params))

    async def cancel(self, subscription_id: str) -> Subscription | DeletedObject:
        return await self._c._request(hops.subscription_cancel(subscription_id))


class AsyncRecurring:
    """``/recurring/v1``: ``plans`` and ``subscriptions`` (header X-Clover-Merchant-Id)."""

    __slots__ = ("plans", "subscriptions")

    def __init__(self, client: AsyncCloverClient) -> None:
        self.plans = AsyncPlans(client)
        self.subscriptions = AsyncSubscriptions(client)


class AsyncCheckoutSessions(_Resource):
    async def create(self, **params: Unpack[CheckoutSessionCreateParams]) -> CheckoutSession:
        return await self._c._request(hops.checkout_session_create(params))

    async def retrieve(self, session_id: str) -> CheckoutSession:
        return await self._c._request(hops.checkout_session_retrieve(session_id))


class AsyncCheckout:
    """Hosted AsyncCheckout: ``sessions``."""

    __slots__ = ("sessions",)

    def __init__(self, client: AsyncCloverClient) -> None:
        self.sessions = AsyncCheckoutSessions(client)


class AsyncPlatformDevices(_Resource):
    def list(self, **params: Unpack[PlatformListParams]) -> AsyncPager[Device]:
        return AsyncPager(self._c._request, hops.device_list(self._c._mid(), params))


class AsyncPlatformPayments(_Resource):
    def list(self, **params: Unpack[PaymentListParams]) -> AsyncPager[Payment]:
        """List payments; ``external_payment_id=`` finds the payment a POS started."""
        return AsyncPager(self._c._request, hops.payment_list(self._c._mid(), params))

    async def retrieve(self, payment_id: str) -> Payment:
        return await self._c._request(hops.payment_retrieve(self._c._mid(), payment_id))


class AsyncPlatformOrders(_Resource):
    async def retrieve(self, order_id: str) -> PlatformOrder:
        return await self._c._request(hops.platform_order_retrieve(self._c._mid(), order_id))

    def list(self, **params: Unpack[PlatformListParams]) -> AsyncPager[PlatformOrder]:
        return AsyncPager(self._c._request, hops.platform_order_list(self._c._mid(), params))


class AsyncPlatform(_Resource):
    """AsyncPlatform REST v3 subset (``/v3/merchants/{mId}/…``)."""

    __slots__ = ("devices", "orders", "payments")

    def __init__(self, client: AsyncCloverClient) -> None:
        super().__init__(client)
        self.devices = AsyncPlatformDevices(client)
        self.payments = AsyncPlatformPayments(client)
        self.orders = AsyncPlatformOrders(client)

    async def merchant(self) -> Merchant:
        return await self._c._request(hops.merchant_get(self._c._mid()))
