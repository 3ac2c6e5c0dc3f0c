"""A terminal refund sent through Clover's REST API instead of on the device.

Two ways in, one send and one settle:

* **the fallback** — a refund of a terminal payment is queued for the process holding
  the terminal's lease (:mod:`~cloverpay.service.services.terminal_ops`). When it is
  still queued at its expiry
  (:data:`~cloverpay.service.services.terminal_queue.QUEUE_TTL_S`) and nobody holds a
  live lease on the terminal, the reconciler sends it once through the REST API
  instead of failing it unsent (``Settings.terminal_refund_via_rest``, on by default);
* **on request** — staff or the API ask for it (``via='rest'``: the device is away or
  broken, the customer is not there), whatever that switch says (it is the staff's
  own choice; a refusal by Clover is an answer like any other). The op is *born
  claimed*: :func:`add_claimed_op` writes it in the intent's transaction in stage
  ``sending`` with ``via='rest'``, so it is never ``queued`` and no terminal owner can
  see it; the request then sends it at once (:func:`send_claimed`).

1. **Intent** — committed already (the attempt, its idempotency key derived from its
   id, the amount reserved under the payment's lock). The REST send is claimed like a
   device send: ``queued -> sending`` with ``via='rest'``, one conditional UPDATE, with
   the ``terminal_refund.sent`` audit row, committed before anything leaves. A terminal
   owner that comes back meanwhile loses that UPDATE (or wins it first, and then the
   REST path sends nothing): one send, ever. On request the op is inserted
   ``sending`` / ``rest`` with the same audit row in the intent's own transaction:
   every device path takes only ``queued`` ops (the owner's claim and queue), a new
   owner adopts only ``via='device'`` ops, and nothing moves an op back to ``queued``,
   so the request that committed it is its only sender, ever.
2. **One send** — ``POST /v1/refunds`` with ``charge`` = the v3 payment id, the amount,
   the attempt's idempotency key and our reference in ``metadata`` (written into the
   attempt's request by the claim, or by :func:`add_claimed_op`:
   :mod:`~cloverpay.service.services.refund_refs`). That Clover refunds a card-present
   payment there is a guess [G]: the Ecommerce docs speak of charges only; a charge id
   is a v3 payment id.
3. **Settle** — :func:`~cloverpay.service.services.terminal_settle.settle_terminal_op`,
   one transaction (refund row, outbox, audit, the op's stage). A refusal is an answer:
   ``failed``, nothing moved.
4. **Unknown** — a lost answer leaves the attempt ``unknown`` (not flagged at once: the
   lookup is reliable); the reconciler looks the refund up by our reference among the
   refunds ``/v1/refunds`` lists for the payment, else on the v3 payment
   (:func:`~cloverpay.service.services.terminal_lookups.lookup_terminal_refund`), never
   sends it again. A process that died between the claim and the settle leaves the op
   ``sending``: the reconciler gives it up after
   :data:`~cloverpay.service.services.terminal_queue.MAX_SALE_S` and looks it up too.

Voids stay device-only: Clover has no REST void of a card-present payment that we
know of; a queued void expires unsent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from cloverpay.service.db import Merchant, PaymentAttempt, Terminal, TerminalOp
from cloverpay.service.services.clover_calls import CallOutcome, send_refund
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit
from cloverpay.service.services.refund_refs import with_reference
from cloverpay.service.services.send import send_then_settle
from cloverpay.service.services.terminal_queue import MAX_SALE_S
from cloverpay.service.services.terminal_settle import settle_terminal_op
from cloverpay.service.services.terminals import lease_is_live

__all__ = [
    "VIA_REST",
    "add_claimed_op",
    "claim_for_rest",
    "refund_via_rest",
    "rest_fallback_applies",
    "send_claimed",
]

#: ``TerminalOp.via`` of a refund sent through the REST API
VIA_REST = "rest"


def rest_fallback_applies(
    ctx: ServiceContext, op: TerminalOp | None, terminal: Terminal | None
) -> bool:
    """True for a queued refund whose terminal nobody owns (no live lease), with the
    fallback switched on. Whoever wins ``queued -> sending`` still decides the send."""
    if op is None or op.kind != "refund" or not ctx.settings.terminal_refund_via_rest:
        return False
    return terminal is None or not lease_is_live(terminal, ctx.now())


def claim_for_rest(ctx: ServiceContext, attempt_id: str, actor: str) -> bool:
    """``queued -> sending`` with ``via='rest'``, committed before the send, with its
    audit row. True for the one caller that may send it, ever."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(TerminalOp)
            .where(
                TerminalOp.attempt_id == attempt_id,
                TerminalOp.stage == "queued",
                TerminalOp.kind == "refund",
            )
            .values(
                stage="sending",
                via=VIA_REST,
                claimed_by=actor[:120],
                sent_at=now,
                ui_text="Sent through Clover's REST API (no process had the terminal)",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        attempt = s.get_one(PaymentAttempt, attempt_id)
        _write_reference(attempt)
        # settled by this caller; the reconciler looks only if it goes quiet
        attempt.next_check_at = now + timedelta(seconds=MAX_SALE_S)
        _audit_sent(s, attempt, actor, now, on_request=False)
    return True


def add_claimed_op(
    s: Session, attempt: PaymentAttempt, terminal_id: str, *, actor: str, now: datetime
) -> None:
    """The op of a refund asked for through the REST API, in the intent's transaction:
    born ``sending`` with ``via='rest'`` (never ``queued``, so no terminal owner ever
    takes it), claimed by ``actor``, with the ``terminal_refund.sent`` audit row. The
    caller sends it once that transaction commits (:func:`send_claimed`); the attempt's
    ``next_check_at`` should be ``now +`` :data:`MAX_SALE_S` (the reconciler looks only
    if the sender goes quiet)."""
    assert attempt.payment_id is not None
    s.add(
        TerminalOp(
            attempt_id=attempt.id,
            merchant_id=attempt.merchant_id,
            terminal_id=terminal_id,
            kind="refund",
            payment_id=attempt.payment_id,
            stage="sending",
            via=VIA_REST,
            claimed_by=actor[:120],
            sent_at=now,
            ui_text="Sent through Clover's REST API (asked for without the terminal)",
            created_at=now,
            updated_at=now,
        )
    )
    _write_reference(attempt)
    _audit_sent(s, attempt, actor, now, on_request=True)


def _write_reference(attempt: PaymentAttempt) -> None:
    """The one REST send carries our reference (refund_refs), written before it leaves."""
    attempt.request_json = json.dumps(
        with_reference(json.loads(attempt.request_json), attempt.id), sort_keys=True
    )


def _audit_sent(
    s: Session, attempt: PaymentAttempt, actor: str, now: datetime, *, on_request: bool
) -> None:
    add_audit(
        s,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action="terminal_refund.sent",
        entity_type="payment_attempt",
        entity_id=attempt.id,
        data={"via": VIA_REST, "on_request": on_request},
        now=now,
    )


def refund_via_rest(ctx: ServiceContext, attempt_id: str, *, actor: str) -> PaymentAttempt | None:
    """Claim and send a queued terminal refund through the REST API, then settle it.
    None when it was not queued any more (its terminal's owner took it first)."""
    if not claim_for_rest(ctx, attempt_id, actor):
        return None
    return send_claimed(ctx, attempt_id, actor=actor)


def send_claimed(ctx: ServiceContext, attempt_id: str, *, actor: str) -> PaymentAttempt:
    """Send a refund this caller claimed for the REST API (:func:`claim_for_rest` or
    :func:`add_claimed_op`, committed), once, then settle it: ``POST /v1/refunds`` with
    the attempt's idempotency key, settled by
    :func:`~cloverpay.service.services.terminal_settle.settle_terminal_op`. Only the
    claimer calls it, once; a lost answer is looked up by the reconciler."""
    with ctx.sessions() as s:
        attempt = s.get_one(PaymentAttempt, attempt_id)
        merchant = s.get_one(Merchant, attempt.merchant_id)

    def settle(c: ServiceContext, aid: str, outcome: CallOutcome, *, actor: str) -> PaymentAttempt:
        # a lost answer is looked up by the reconciler on its first step: no flag yet
        return settle_terminal_op(c, aid, outcome, actor=actor, flag_unknown=False)

    return send_then_settle(
        ctx, merchant, attempt, kind="refund", send=send_refund, settle=settle, actor=actor
    )
