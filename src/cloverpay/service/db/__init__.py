"""Database: typed ORM models, engines and sessions (SQLite and PostgreSQL)."""

from cloverpay.service.db.base import Base, new_id, utcnow
from cloverpay.service.db.models_merchant import ApiKeyRow, CardOnFile, Customer, Merchant
from cloverpay.service.db.models_money import (
    Invoice,
    InvoiceLineItem,
    Payment,
    PaymentAttempt,
    Refund,
)
from cloverpay.service.db.models_oauth import (
    EventDelivery,
    MerchantEventSettings,
    OAuthConnectState,
)
from cloverpay.service.db.models_ops import AuditLog, IdempotencyKey, OutboxEvent, WebhookInbox
from cloverpay.service.db.models_preauth import Authorization
from cloverpay.service.db.models_subscriptions import (
    MerchantBillingSettings,
    Plan,
    Subscription,
)
from cloverpay.service.db.models_terminal_ops import TerminalOp
from cloverpay.service.db.models_terminals import Terminal, TerminalSale
from cloverpay.service.db.models_web import (
    CheckoutLink,
    EmailDelivery,
    MerchantWebSettings,
    StaffUser,
)
from cloverpay.service.db.models_webhooks import MerchantWebhookSecret
from cloverpay.service.db.session import (
    SessionFactory,
    make_engine,
    make_session_factory,
    normalise_url,
    one_statement,
    reading,
)

__all__ = [
    "ApiKeyRow",
    "AuditLog",
    "Authorization",
    "Base",
    "CardOnFile",
    "CheckoutLink",
    "Customer",
    "EmailDelivery",
    "EventDelivery",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLineItem",
    "Merchant",
    "MerchantBillingSettings",
    "MerchantEventSettings",
    "MerchantWebSettings",
    "MerchantWebhookSecret",
    "OAuthConnectState",
    "OutboxEvent",
    "Payment",
    "PaymentAttempt",
    "Plan",
    "Refund",
    "SessionFactory",
    "StaffUser",
    "Subscription",
    "Terminal",
    "TerminalOp",
    "TerminalSale",
    "WebhookInbox",
    "make_engine",
    "make_session_factory",
    "new_id",
    "normalise_url",
    "one_statement",
    "reading",
    "utcnow",
]
