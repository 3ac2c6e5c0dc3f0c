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
from cloverpay.service.db.models_ops import AuditLog, IdempotencyKey, OutboxEvent, WebhookInbox
from cloverpay.service.db.session import (
    SessionFactory,
    make_engine,
    make_session_factory,
    normalise_url,
)

__all__ = [
    "ApiKeyRow",
    "AuditLog",
    "Base",
    "CardOnFile",
    "Customer",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLineItem",
    "Merchant",
    "OutboxEvent",
    "Payment",
    "PaymentAttempt",
    "Refund",
    "SessionFactory",
    "WebhookInbox",
    "make_engine",
    "make_session_factory",
    "new_id",
    "normalise_url",
    "utcnow",
]
