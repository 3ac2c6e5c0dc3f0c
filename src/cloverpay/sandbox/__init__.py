"""cloverpay.sandbox: an offline, stateful emulator of Clover's HTTP APIs.

Needs the ``sandbox`` extra: ``pip install 'cloverpay[sandbox]'``.

Quick start::

    from cloverpay.sandbox import Sandbox
    import httpx

    sandbox = Sandbox(seed=1)
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.sync_transport(), base_url=creds.base_url) as http:
        http.get("/pakms/apikey", headers={"Authorization": f"Bearer {creds.access_token}"})

The same state can be served on a real socket (``SandboxServer(sandbox)``) or from the
command line (``cloverpay sandbox --port 8080``). ``/_sandbox/...`` is the control API
(reset, seed, clock, faults, rate limits, events, config).

Beside the Ecommerce API it serves OAuth v2 (``/oauth/v2/...``), Hosted Checkout (the API
and the hosted page ``/checkout/{id}``), a stand-in for Clover's iframe SDK (``/sdk.js``),
Recurring (``/recurring/v1/...``), a Platform v3 subset (``/v3/merchants/...``) and
outgoing webhooks (``/_sandbox/webhooks``), and an emulated Clover terminal
(:mod:`cloverpay.sandbox.terminal`: Remote Pay on its own port, ``/terminal``); each module of
:mod:`cloverpay.sandbox.routes` lists its paths in its docstring.

The names below are imported lazily (PEP 562): ``import cloverpay.sandbox`` stays
cheap and works without the ``sandbox`` extra, so the pytest plugin this package
registers never slows down or breaks an unrelated test run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import (
        create_app,
        route_modules,
    )
    from ._asgi import (
        SandboxConnectionDropped,
    )
    from ._cards import (
        BRANDS,
        TEST_CARDS,
        CardOutcome,
        card_brand,
        luhn_valid,
        outcome_for,
    )
    from ._checkout import (
        CHECKOUT_TTL_MS,
        CheckoutError,
        CheckoutSession,
        CheckoutState,
        CheckoutStore,
        LineItem,
        parse_checkout_request,
    )
    from ._clock import (
        Clock,
    )
    from ._crypto import (
        decrypt_pan,
        encrypt_pan,
        keys_json,
        ta_private_key,
    )
    from ._errors import (
        SandboxError,
    )
    from ._events import (
        EventLog,
    )
    from ._faults import (
        FAULT_KINDS,
        FaultInjector,
        FaultKind,
        FaultMiddleware,
        FaultRule,
    )
    from ._idempotency import (
        IdempotencyMiddleware,
        IdempotencyStore,
        fingerprint,
    )
    from ._ids import (
        CLOVER_ID_ALPHABET,
        IdGenerator,
    )
    from ._index import (
        ListIndex,
        Page,
        Store,
    )
    from ._oauth import (
        LEGACY_EXPIRY,
        AccessGrant,
        AuthorizationCode,
        OAuthApp,
        OAuthError,
        OAuthSettings,
        OAuthStore,
        TokenPair,
        pkce_challenge,
    )
    from ._platform import (
        PlatformStore,
        charge_payment_json,
        order_json,
        terminal_payment_json,
    )
    from ._ratelimit import (
        RateLimiter,
        RateLimitMiddleware,
    )
    from ._recurring import (
        BillingAttempt,
        BillingOutcome,
        Invoice,
        Plan,
        RecurringError,
        RecurringStore,
        Subscription,
        format_time,
        parse_time,
        run_due_billing,
    )
    from ._sandbox import (
        IN_PROCESS_BASE_URL,
        KEEPALIVE_S,
        Sandbox,
        SandboxCredentials,
        SandboxServer,
        serve,
    )
    from ._state import (
        ChangeKind,
        Merchant,
        Notification,
        SandboxConfig,
        SandboxState,
    )
    from ._webhooks_out import WebhookDispatcher
    from ._webhooks_store import (
        AppWebhookConfig,
        Delivery,
        DeliveryAttempt,
        HostedCheckoutWebhookConfig,
        WebhookSettings,
        WebhookStore,
        sign_hosted_checkout,
    )
    from .terminal import (
        CustomerScript,
        Terminal,
        TerminalCertificate,
        TerminalServer,
        TerminalSettings,
        terminal_for,
    )

__all__ = [
    "BRANDS",
    "CLOVER_ID_ALPHABET",
    "FAULT_KINDS",
    "IN_PROCESS_BASE_URL",
    "KEEPALIVE_S",
    "TEST_CARDS",
    "CardOutcome",
    "ChangeKind",
    "Clock",
    "EventLog",
    "FaultInjector",
    "FaultKind",
    "FaultMiddleware",
    "FaultRule",
    "IdGenerator",
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "ListIndex",
    "Merchant",
    "Notification",
    "Page",
    "RateLimitMiddleware",
    "RateLimiter",
    "Sandbox",
    "SandboxConfig",
    "SandboxConnectionDropped",
    "SandboxCredentials",
    "SandboxError",
    "SandboxServer",
    "SandboxState",
    "Store",
    "card_brand",
    "create_app",
    "decrypt_pan",
    "encrypt_pan",
    "fingerprint",
    "keys_json",
    "luhn_valid",
    "outcome_for",
    "route_modules",
    "serve",
    "ta_private_key",
]

__all__ += [
    "CHECKOUT_TTL_MS",
    "LEGACY_EXPIRY",
    "AccessGrant",
    "AppWebhookConfig",
    "AuthorizationCode",
    "BillingAttempt",
    "BillingOutcome",
    "CheckoutError",
    "CheckoutSession",
    "CheckoutState",
    "CheckoutStore",
    "Delivery",
    "DeliveryAttempt",
    "HostedCheckoutWebhookConfig",
    "Invoice",
    "LineItem",
    "OAuthApp",
    "OAuthError",
    "OAuthSettings",
    "OAuthStore",
    "Plan",
    "PlatformStore",
    "RecurringError",
    "RecurringStore",
    "Subscription",
    "TokenPair",
    "WebhookDispatcher",
    "WebhookSettings",
    "WebhookStore",
    "charge_payment_json",
    "format_time",
    "order_json",
    "parse_checkout_request",
    "parse_time",
    "pkce_challenge",
    "run_due_billing",
    "sign_hosted_checkout",
    "terminal_payment_json",
]

# the emulated Clover terminal (Remote Pay, device side): cloverpay.sandbox.terminal
__all__ += [
    "CustomerScript",
    "Terminal",
    "TerminalCertificate",
    "TerminalServer",
    "TerminalSettings",
    "terminal_for",
]

#: public name -> private module defining it
_LAZY: dict[str, str] = {
    "create_app": "._app",
    "route_modules": "._app",
    "SandboxConnectionDropped": "._asgi",
    "BRANDS": "._cards",
    "TEST_CARDS": "._cards",
    "CardOutcome": "._cards",
    "card_brand": "._cards",
    "luhn_valid": "._cards",
    "outcome_for": "._cards",
    "Clock": "._clock",
    "decrypt_pan": "._crypto",
    "encrypt_pan": "._crypto",
    "keys_json": "._crypto",
    "ta_private_key": "._crypto",
    "SandboxError": "._errors",
    "EventLog": "._events",
    "FAULT_KINDS": "._faults",
    "FaultInjector": "._faults",
    "FaultKind": "._faults",
    "FaultMiddleware": "._faults",
    "FaultRule": "._faults",
    "IdempotencyMiddleware": "._idempotency",
    "IdempotencyStore": "._idempotency",
    "fingerprint": "._idempotency",
    "CLOVER_ID_ALPHABET": "._ids",
    "IdGenerator": "._ids",
    "ListIndex": "._index",
    "Page": "._index",
    "Store": "._index",
    "RateLimiter": "._ratelimit",
    "RateLimitMiddleware": "._ratelimit",
    "IN_PROCESS_BASE_URL": "._sandbox",
    "KEEPALIVE_S": "._sandbox",
    "Sandbox": "._sandbox",
    "SandboxCredentials": "._sandbox",
    "SandboxServer": "._sandbox",
    "serve": "._sandbox",
    "ChangeKind": "._state",
    "Merchant": "._state",
    "Notification": "._state",
    "SandboxConfig": "._state",
    "SandboxState": "._state",
    "CHECKOUT_TTL_MS": "._checkout",
    "CheckoutError": "._checkout",
    "CheckoutSession": "._checkout",
    "CheckoutState": "._checkout",
    "CheckoutStore": "._checkout",
    "LineItem": "._checkout",
    "parse_checkout_request": "._checkout",
    "LEGACY_EXPIRY": "._oauth",
    "AccessGrant": "._oauth",
    "AuthorizationCode": "._oauth",
    "OAuthApp": "._oauth",
    "OAuthError": "._oauth",
    "OAuthSettings": "._oauth",
    "OAuthStore": "._oauth",
    "TokenPair": "._oauth",
    "pkce_challenge": "._oauth",
    "PlatformStore": "._platform",
    "charge_payment_json": "._platform",
    "order_json": "._platform",
    "terminal_payment_json": "._platform",
    "BillingAttempt": "._recurring",
    "BillingOutcome": "._recurring",
    "Invoice": "._recurring",
    "Plan": "._recurring",
    "RecurringError": "._recurring",
    "RecurringStore": "._recurring",
    "Subscription": "._recurring",
    "format_time": "._recurring",
    "parse_time": "._recurring",
    "run_due_billing": "._recurring",
    "AppWebhookConfig": "._webhooks_store",
    "Delivery": "._webhooks_store",
    "DeliveryAttempt": "._webhooks_store",
    "HostedCheckoutWebhookConfig": "._webhooks_store",
    "WebhookDispatcher": "._webhooks_out",
    "WebhookSettings": "._webhooks_store",
    "WebhookStore": "._webhooks_store",
    "sign_hosted_checkout": "._webhooks_store",
    "CustomerScript": ".terminal",
    "Terminal": ".terminal",
    "TerminalCertificate": ".terminal",
    "TerminalServer": ".terminal",
    "TerminalSettings": ".terminal",
    "terminal_for": ".terminal",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
