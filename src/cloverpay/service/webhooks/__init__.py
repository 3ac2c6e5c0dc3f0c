"""Webhooks in: Clover app webhooks (with the verification-code handshake) and Hosted
Checkout webhooks, through the ``webhook_inbox`` (RELIABILITY rule 6).

Receipt (:mod:`._receive`) verifies, stores raw and answers; the worker
(:func:`run_inbox_worker`, started by ``cloverpay serve``) fetches what the event names
from Clover and applies it in the transaction that marks the row processed
(:mod:`._process`, :mod:`._effects`). See docs/service-webhooks.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from cloverpay.service.webhooks._config import (
    SOURCE_APP,
    SOURCE_APP_VERIFICATION,
    SOURCE_CHECKOUT,
    VerificationCode,
    checkout_signing_secret,
    latest_verification_code,
    set_checkout_signing_secret,
)
from cloverpay.service.webhooks._effects import (
    ChargeFact,
    Effect,
    InboxItem,
    NoEffect,
    RecordCheckoutCharge,
    RetryLater,
    SettleAttempt,
    apply_effect,
    fetch_charge,
    plan_app,
    plan_checkout,
    record_checkout_charge,
    record_checkout_return,
)
from cloverpay.service.webhooks._process import (
    LEASE_S,
    MAX_ATTEMPTS,
    InboxReport,
    claim_inbox,
    process_inbox_once,
    run_inbox_worker,
    sweep_inbox,
)
from cloverpay.service.webhooks._receive import (
    MAX_BODY,
    GroupCommit,
    Receipt,
    redact_webhook_headers,
    store_receipt,
    store_receipts,
)
from cloverpay.service.webhooks._refunds import (
    EXTERNAL_REFUND_SOURCE,
    RECORDED_FROM_CLOVER,
    RefundFact,
    RefundWaitsForOurs,
    SyncRefunds,
    apply_refunds,
    fetch_refunds,
    plan_refunds,
)
from cloverpay.service.webhooks._views import (
    INBOX_STATUSES,
    InboxRow,
    checkout_secret_set_at,
    recent_inbox,
)
from cloverpay.service.webhooks._voids import (
    EXTERNAL_VOID_SOURCE,
    AlertVoid,
    RecordVoid,
    V3PaymentFact,
    VoidWaitsForOurs,
    apply_alert_void,
    apply_void,
    fetch_v3_payment,
    plan_unrecorded_void,
    plan_void,
)

__all__ = [
    "EXTERNAL_REFUND_SOURCE",
    "EXTERNAL_VOID_SOURCE",
    "INBOX_STATUSES",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "MAX_BODY",
    "RECORDED_FROM_CLOVER",
    "SOURCE_APP",
    "SOURCE_APP_VERIFICATION",
    "SOURCE_CHECKOUT",
    "AlertVoid",
    "ChargeFact",
    "Effect",
    "GroupCommit",
    "InboxItem",
    "InboxReport",
    "InboxRow",
    "NoEffect",
    "Receipt",
    "RecordCheckoutCharge",
    "RecordVoid",
    "RefundFact",
    "RefundWaitsForOurs",
    "RetryLater",
    "SettleAttempt",
    "SyncRefunds",
    "V3PaymentFact",
    "VerificationCode",
    "VoidWaitsForOurs",
    "apply_alert_void",
    "apply_effect",
    "apply_refunds",
    "apply_void",
    "checkout_secret_set_at",
    "checkout_signing_secret",
    "claim_inbox",
    "fetch_charge",
    "fetch_refunds",
    "fetch_v3_payment",
    "install_webhooks",
    "latest_verification_code",
    "plan_app",
    "plan_checkout",
    "plan_refunds",
    "plan_unrecorded_void",
    "plan_void",
    "process_inbox_once",
    "recent_inbox",
    "record_checkout_charge",
    "record_checkout_return",
    "redact_webhook_headers",
    "run_inbox_worker",
    "set_checkout_signing_secret",
    "store_receipt",
    "store_receipts",
    "sweep_inbox",
]


def install_webhooks(app: FastAPI) -> None:
    """Add the receivers (``/webhooks/clover/app``, ``/webhooks/clover/checkout/{id}``)."""
    from cloverpay.service.webhooks._receive import router

    app.include_router(router)
