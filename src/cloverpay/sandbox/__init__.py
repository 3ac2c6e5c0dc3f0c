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
"""

from ._app import create_app, route_modules
from ._asgi import SandboxConnectionDropped
from ._cards import BRANDS, TEST_CARDS, CardOutcome, card_brand, luhn_valid, outcome_for
from ._clock import Clock
from ._crypto import decrypt_pan, encrypt_pan, keys_json, ta_private_key
from ._errors import SandboxError
from ._events import EventLog
from ._faults import FAULT_KINDS, FaultInjector, FaultKind, FaultMiddleware, FaultRule
from ._idempotency import IdempotencyMiddleware, IdempotencyStore, fingerprint
from ._ids import CLOVER_ID_ALPHABET, IdGenerator
from ._index import ListIndex, Page, Store
from ._ratelimit import RateLimiter, RateLimitMiddleware
from ._sandbox import IN_PROCESS_BASE_URL, Sandbox, SandboxCredentials, SandboxServer, serve
from ._state import ChangeKind, Merchant, Notification, SandboxConfig, SandboxState

__all__ = [
    "BRANDS",
    "CLOVER_ID_ALPHABET",
    "FAULT_KINDS",
    "IN_PROCESS_BASE_URL",
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

# -- OAuth v2, Hosted Checkout, Recurring, outgoing webhooks, Platform v3 ------------------
from ._checkout import (
    CHECKOUT_TTL_MS,
    CheckoutError,
    CheckoutSession,
    CheckoutState,
    CheckoutStore,
    LineItem,
    parse_checkout_request,
)
from ._oauth import (
    AccessGrant,
    AuthorizationCode,
    OAuthApp,
    OAuthError,
    OAuthSettings,
    OAuthStore,
    TokenPair,
    pkce_challenge,
)
from ._platform import PlatformStore, charge_payment_json, order_json
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
from ._webhooks_out import (
    AppWebhookConfig,
    Delivery,
    DeliveryAttempt,
    HostedCheckoutWebhookConfig,
    WebhookDispatcher,
    WebhookSettings,
    WebhookStore,
    sign_hosted_checkout,
)

# -- the emulated Clover terminal (Remote Pay, device side): cloverpay.sandbox.terminal ----
from .terminal import (
    CustomerScript,
    Terminal,
    TerminalCertificate,
    TerminalServer,
    TerminalSettings,
    terminal_for,
)

__all__ += [
    "CHECKOUT_TTL_MS",
    "AccessGrant",
    "AppWebhookConfig",
    "AuthorizationCode",
    "BillingAttempt",
    "BillingOutcome",
    "CheckoutError",
    "CheckoutSession",
    "CheckoutState",
    "CheckoutStore",
    "CustomerScript",
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
    "Terminal",
    "TerminalCertificate",
    "TerminalServer",
    "TerminalSettings",
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
    "terminal_for",
]
