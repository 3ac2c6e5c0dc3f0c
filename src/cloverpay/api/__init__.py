"""Typed sync and async client for Clover's HTTP APIs.

>>> from cloverpay.api import CloverClient
>>> with CloverClient(token, merchant_id=mid, environment="sandbox", client_ip=ip) as c:
...     charge = c.charges.create(amount=1000, currency="usd", source="clv_...")

Everything public is re-exported here; the ``_name`` modules are private.
"""

import contextlib as _contextlib
import importlib as _importlib
import typing as _typing

from cloverpay.api._client import CloverClient
from cloverpay.api._client_async import AsyncCloverClient
from cloverpay.api._environments import (
    PRODUCTION_EU,
    PRODUCTION_LATAM,
    PRODUCTION_NA,
    SANDBOX,
    Environment,
    Region,
    Service,
)
from cloverpay.api._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    CardDeclinedError,
    CloverError,
    ConfigurationError,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from cloverpay.api._idempotency import (
    IDEMPOTENCY_NAMESPACE,
    idempotency_key_for,
    new_idempotency_key,
)
from cloverpay.api._limiter import AsyncLimiter, Limiter, RateLimit, SlidingWindow
from cloverpay.api._models_base import CamelModel, CloverModel, DeletedObject, ListObject
from cloverpay.api._models_ecommerce import (
    Address,
    Card,
    Charge,
    ChargeOutcome,
    ChargeSource,
    Customer,
    CustomerSources,
    Order,
    OrderItem,
    OrderReturn,
    PakmsKey,
    Refund,
    Shipping,
    TaxRate,
    Token,
)
from cloverpay.api._models_hosted import CheckoutSession, Plan, Subscription, parse_recurring_time
from cloverpay.api._models_platform import Device, Merchant, Payment, PlatformOrder, Reference
from cloverpay.api._paging import AsyncPager, SyncPager
from cloverpay.api._params import (
    TENDER_CASH,
    TENDER_CHECK,
    AddressParams,
    AlternateTenderParams,
    CardParams,
    ChargeCaptureParams,
    ChargeCreateParams,
    ChargeListParams,
    CheckoutCustomerParams,
    CheckoutLineItemParams,
    CheckoutSessionCreateParams,
    CustomerCreateParams,
    CustomerListParams,
    CustomerUpdateParams,
    OrderCreateParams,
    OrderItemParams,
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
    ShippingParams,
    StoredCredentialsParams,
    SubscriptionCreateParams,
    SubscriptionUpdateParams,
    TaxRateParams,
    TenderParams,
    alternate_tender,
)
from cloverpay.api._retry import RetryDecision, RetryPolicy

if _typing.TYPE_CHECKING:
    from cloverpay.api._encryption import (
        TA_KEYS_URL,
        MissingCryptographyError,
        decrypt_pan,
        encrypt_pan,
        load_ta_keys,
        ta_public_key_from_rsa,
    )
    from cloverpay.api._oauth import (
        PKCE,
        SANDBOX_API_BASE_URL,
        SANDBOX_AUTHORIZE_BASE_URL,
        MissingTokenError,
        OAuthError,
        OAuthToken,
        authorize_url,
        build_refresh_request,
        build_token_request,
        code_challenge,
        parse_token_response,
    )
    from cloverpay.api._oauth_auth import CloverOAuth
    from cloverpay.api._oauth_client import (
        AsyncOAuthClient,
        AuthorizationCallback,
        OAuthClient,
        parse_authorize_callback,
    )
    from cloverpay.api._oauth_store import (
        AsyncTokenStore,
        FileTokenStore,
        InMemoryTokenStore,
        TokenCodec,
        TokenStore,
    )
    from cloverpay.api._webhook_events import (
        AppEvent,
        AppEventType,
        AppWebhook,
        CheckoutEvent,
        CheckoutStatus,
        VerificationRequest,
        build_app_webhook,
        build_checkout_webhook,
        parse_app_webhook,
        parse_checkout_event,
    )
    from cloverpay.api._webhooks import (
        APP_AUTH_HEADER,
        CHECKOUT_SIGNATURE_HEADER,
        SignatureFailure,
        WebhookError,
        WebhookPayloadError,
        WebhookSignatureError,
        sign_checkout_webhook,
        verify_app_webhook,
        verify_checkout_signature,
    )

#: Names loaded on first access (PEP 562): OAuth, webhooks and card encryption are
#: not needed to make calls, and keep ``import cloverpay.api`` lighter without them.
_LAZY: dict[str, str] = {
    "APP_AUTH_HEADER": "_webhooks",
    "AppEvent": "_webhook_events",
    "AppEventType": "_webhook_events",
    "AppWebhook": "_webhook_events",
    "AsyncOAuthClient": "_oauth_client",
    "AsyncTokenStore": "_oauth_store",
    "AuthorizationCallback": "_oauth_client",
    "CHECKOUT_SIGNATURE_HEADER": "_webhooks",
    "CheckoutEvent": "_webhook_events",
    "CheckoutStatus": "_webhook_events",
    "CloverOAuth": "_oauth_auth",
    "FileTokenStore": "_oauth_store",
    "InMemoryTokenStore": "_oauth_store",
    "MissingCryptographyError": "_encryption",
    "MissingTokenError": "_oauth",
    "OAuthClient": "_oauth_client",
    "OAuthError": "_oauth",
    "OAuthToken": "_oauth",
    "PKCE": "_oauth",
    "SANDBOX_API_BASE_URL": "_oauth",
    "SANDBOX_AUTHORIZE_BASE_URL": "_oauth",
    "SignatureFailure": "_webhooks",
    "TA_KEYS_URL": "_encryption",
    "TokenCodec": "_oauth_store",
    "TokenStore": "_oauth_store",
    "VerificationRequest": "_webhook_events",
    "WebhookError": "_webhooks",
    "WebhookPayloadError": "_webhooks",
    "WebhookSignatureError": "_webhooks",
    "authorize_url": "_oauth",
    "build_app_webhook": "_webhook_events",
    "build_checkout_webhook": "_webhook_events",
    "build_refresh_request": "_oauth",
    "build_token_request": "_oauth",
    "code_challenge": "_oauth",
    "decrypt_pan": "_encryption",
    "encrypt_pan": "_encryption",
    "load_ta_keys": "_encryption",
    "parse_app_webhook": "_webhook_events",
    "parse_authorize_callback": "_oauth_client",
    "parse_checkout_event": "_webhook_events",
    "parse_token_response": "_oauth",
    "sign_checkout_webhook": "_webhooks",
    "ta_public_key_from_rsa": "_encryption",
    "verify_app_webhook": "_webhooks",
    "verify_checkout_signature": "_webhooks",
}

__all__ = [
    "APP_AUTH_HEADER",
    "CHECKOUT_SIGNATURE_HEADER",
    "IDEMPOTENCY_NAMESPACE",
    "PKCE",
    "PRODUCTION_EU",
    "PRODUCTION_LATAM",
    "PRODUCTION_NA",
    "SANDBOX",
    "SANDBOX_API_BASE_URL",
    "SANDBOX_AUTHORIZE_BASE_URL",
    "TA_KEYS_URL",
    "TENDER_CASH",
    "TENDER_CHECK",
    "APIConnectionError",
    "APIError",
    "Address",
    "AddressParams",
    "AlternateTenderParams",
    "AppEvent",
    "AppEventType",
    "AppWebhook",
    "AsyncCloverClient",
    "AsyncLimiter",
    "AsyncOAuthClient",
    "AsyncPager",
    "AsyncTokenStore",
    "AuthenticationError",
    "AuthorizationCallback",
    "CamelModel",
    "Card",
    "CardDeclinedError",
    "CardParams",
    "Charge",
    "ChargeCaptureParams",
    "ChargeCreateParams",
    "ChargeListParams",
    "ChargeOutcome",
    "ChargeSource",
    "CheckoutCustomerParams",
    "CheckoutEvent",
    "CheckoutLineItemParams",
    "CheckoutSession",
    "CheckoutSessionCreateParams",
    "CheckoutStatus",
    "CloverClient",
    "CloverError",
    "CloverModel",
    "CloverOAuth",
    "ConfigurationError",
    "ConflictError",
    "Customer",
    "CustomerCreateParams",
    "CustomerListParams",
    "CustomerSources",
    "CustomerUpdateParams",
    "DeletedObject",
    "Device",
    "Environment",
    "FileTokenStore",
    "IdempotencyError",
    "InMemoryTokenStore",
    "InvalidRequestError",
    "Limiter",
    "ListObject",
    "MalformedResponseError",
    "Merchant",
    "MissingCryptographyError",
    "MissingTokenError",
    "NotFoundError",
    "OAuthClient",
    "OAuthError",
    "OAuthToken",
    "Order",
    "OrderCreateParams",
    "OrderItem",
    "OrderItemParams",
    "OrderListParams",
    "OrderPayParams",
    "OrderReturn",
    "OrderReturnParams",
    "OrderUpdateParams",
    "OutcomeUnknownError",
    "PakmsKey",
    "Payment",
    "PaymentListParams",
    "PermissionDeniedError",
    "Plan",
    "PlanCreateParams",
    "PlanUpdateParams",
    "PlatformListParams",
    "PlatformOrder",
    "RateLimit",
    "RateLimitError",
    "Reference",
    "Refund",
    "RefundCreateParams",
    "RefundListParams",
    "Region",
    "RetryDecision",
    "RetryPolicy",
    "ServerError",
    "Service",
    "Shipping",
    "ShippingParams",
    "SignatureFailure",
    "SlidingWindow",
    "StoredCredentialsParams",
    "Subscription",
    "SubscriptionCreateParams",
    "SubscriptionUpdateParams",
    "SyncPager",
    "TaxRate",
    "TaxRateParams",
    "TenderParams",
    "Token",
    "TokenCodec",
    "TokenStore",
    "VerificationRequest",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "alternate_tender",
    "authorize_url",
    "build_app_webhook",
    "build_checkout_webhook",
    "build_refresh_request",
    "build_token_request",
    "code_challenge",
    "decrypt_pan",
    "encrypt_pan",
    "idempotency_key_for",
    "load_ta_keys",
    "new_idempotency_key",
    "parse_app_webhook",
    "parse_authorize_callback",
    "parse_checkout_event",
    "parse_recurring_time",
    "parse_token_response",
    "sign_checkout_webhook",
    "ta_public_key_from_rsa",
    "verify_app_webhook",
    "verify_checkout_signature",
]


# Exceptions, models and helpers report this package as their home.
def _rehome(obj: object) -> None:
    if getattr(obj, "__module__", "").startswith("cloverpay.api._"):
        with _contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = "cloverpay.api"


for _name in __all__:
    if _name not in _LAZY:
        _rehome(globals()[_name])


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    obj = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    _rehome(obj)
    globals()[name] = obj
    return obj


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


del _name
