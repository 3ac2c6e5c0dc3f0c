"""Send a committed intent to Clover, then settle it: the one shape every money-moving
call has (RELIABILITY rules 1 and 5).

The intent row is already committed when this runs. A failure while settling leaves the
attempt pending with its reconciler check scheduled, and its audit row is written in its
own transaction so the trace survives the rollback. ``CLOVERPAY_CRASH_AT`` can stop the
process after the intent commit and again after the call (named crash points).
"""

from __future__ import annotations

from collections.abc import Callable

from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import Merchant, PaymentAttempt
from cloverpay.service.services.clover_calls import CallOutcome
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import audit_failure

__all__ = ["send_then_settle"]

Send = Callable[[ServiceContext, Merchant, PaymentAttempt], CallOutcome]
Settle = Callable[..., PaymentAttempt]


def send_then_settle(
    ctx: ServiceContext,
    merchant: Merchant,
    attempt: PaymentAttempt,
    *,
    kind: str,
    send: Send,
    settle: Settle,
    actor: str,
) -> PaymentAttempt:
    """``kind`` names the call ("charge", "refund"): the crash point after it is
    ``after_{kind}_sent`` and a settle failure is audited as ``{kind}_attempt.settle_failed``."""
    crash_point("after_intent_committed")
    outcome = send(ctx, merchant, attempt)
    crash_point(f"after_{kind}_sent")
    try:
        settled: PaymentAttempt = settle(ctx, attempt.id, outcome, actor=actor)
    except Exception as exc:
        audit_failure(
            ctx.sessions,
            merchant_id=merchant.id,
            actor=actor,
            action=f"{kind}_attempt.settle_failed",
            entity_type="payment_attempt",
            entity_id=attempt.id,
            reason=f"{type(exc).__name__}: {exc}"[:500],
            data={"outcome": outcome.status, "clover_id": outcome.clover_id},
        )
        raise
    return settled
