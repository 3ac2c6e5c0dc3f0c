"""What a terminal sale and a terminal refund or void share: the row beside the intent.

A ``terminal_sales`` or ``terminal_ops`` row follows its attempt through ``queued ->
sending -> done / unknown``, or ``queued -> expired`` (never sent). These are the steps
both kinds take the same way:

* **claim** — ``queued -> sending`` for the terminal's lease owner, a conditional UPDATE
  committed before anything is sent (nothing moves a row back to ``queued``);
* **expire** — ``queued -> expired`` when nobody claimed it in :data:`QUEUE_TTL_S`;
* **screen** — the device's screen while it runs, for the dashboard;
* **orphans** — rows another process sent and never settled (to look up, never resend);
* **flag** — an outcome nobody could prove: audit row + alert outbox row, once;
* **the reconciler's wait** — :func:`wait_or_give_up`: a queued row waits or expires, a
  row still with a live owner waits, an abandoned one becomes ``unknown`` to look up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloverpay.service.db import PaymentAttempt, Terminal, TerminalOp, TerminalSale
from cloverpay.service.domain import AttemptState
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, add_outbox
from cloverpay.service.services.terminals import owner_holds_lease

__all__ = [
    "MAX_SALE_S",
    "QUEUE_TTL_S",
    "SOURCE_KIND",
    "claim",
    "flag_for_attention",
    "load",
    "mark_expired",
    "mark_unknown",
    "orphaned",
    "queued",
    "reread",
    "show_outcome",
    "update_screen",
    "wait_or_give_up",
]

SOURCE_KIND = "terminal"
#: A queued sale, refund or void not claimed by the terminal's owner within this time
#: is expired.
QUEUE_TTL_S = 60.0
#: How long a sale (or refund, void) may run in its owner process (customer + recovery)
#: before the reconciler treats the owner as gone and looks the payment up itself.
MAX_SALE_S = 300.0

#: ``TerminalSale`` or ``TerminalOp``: the two rows share these columns.
Row = TypeVar("Row", TerminalSale, TerminalOp)


def claim(
    ctx: ServiceContext, model: type[Row], attempt_id: str, owner: str, *, action: str
) -> bool:
    """``queued -> sending`` for ``owner``, committed before anything is sent, with an
    ``action`` audit row (``{kind}`` in it stands for the attempt's kind). True for the
    one caller that may send it, ever."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(model)
            .where(model.attempt_id == attempt_id, model.stage == "queued")
            .values(
                stage="sending",
                claimed_by=owner,
                sent_at=now,
                ui_text="Sent to the terminal",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        won = getattr(result, "rowcount", 0) == 1
        if won:
            attempt = s.get_one(PaymentAttempt, attempt_id)
            # the owner settles; the reconciler looks only if the owner goes quiet
            attempt.next_check_at = now + timedelta(seconds=MAX_SALE_S)
            add_audit(
                s,
                merchant_id=attempt.merchant_id,
                actor=owner,
                action=action.format(kind=attempt.kind),
                entity_type="payment_attempt",
                entity_id=attempt_id,
                now=now,
            )
        return bool(won)


def queued(
    ctx: ServiceContext, model: type[Row], terminal_id: str, limit: int
) -> list[tuple[PaymentAttempt, Row]]:
    """The terminal's queued rows, oldest first (attempts still pending)."""
    with ctx.sessions() as s:
        rows = s.execute(
            select(PaymentAttempt, model)
            .join(model, model.attempt_id == PaymentAttempt.id)
            .where(
                model.terminal_id == terminal_id,
                model.stage == "queued",
                PaymentAttempt.state == AttemptState.PENDING.value,
            )
            .order_by(model.created_at)
            .limit(limit)
        ).all()
        return [(a, row) for a, row in rows]


def orphaned(ctx: ServiceContext, model: type[Row], terminal_id: str, owner: str) -> list[str]:
    """Attempt ids of the terminal's rows another process sent on the device and never
    settled (a refund sent through the REST API is not the device's: see
    :func:`wait_or_give_up`)."""
    stmt = (
        select(model.attempt_id)
        .join(PaymentAttempt, PaymentAttempt.id == model.attempt_id)
        .where(
            model.terminal_id == terminal_id,
            model.stage == "sending",
            model.claimed_by != owner,
            PaymentAttempt.state == AttemptState.PENDING.value,
        )
    )
    if model is TerminalOp:
        stmt = stmt.where(TerminalOp.via == "device")
    with ctx.sessions() as s:
        return list(s.scalars(stmt))


def update_screen(
    ctx: ServiceContext,
    model: type[Row],
    attempt_id: str,
    ui_state: str | None,
    ui_text: str | None,
) -> None:
    """The device's screen while it runs (UI_STATE), for the dashboard."""
    with ctx.sessions.begin() as s:
        s.execute(
            update(model)
            .where(model.attempt_id == attempt_id, model.stage == "sending")
            .values(
                ui_state=(ui_state or "")[:60] or None,
                ui_text=(ui_text or "")[:300] or None,
                updated_at=ctx.now(),
            )
            .execution_options(synchronize_session=False)
        )


def mark_expired(ctx: ServiceContext, model: type[Row], attempt_id: str, ui_text: str) -> bool:
    """``queued -> expired`` (never sent). False if it was claimed meanwhile; the caller
    then fails the attempt."""
    now = ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(model)
            .where(model.attempt_id == attempt_id, model.stage == "queued")
            .values(stage="expired", ui_text=ui_text, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1


def flag_for_attention(
    s: Session, attempt: PaymentAttempt, reason: str | None, *, actor: str, now: datetime
) -> None:
    """Flag an outcome nobody could prove for a person (audit + alert outbox row), once."""
    if attempt.alerted_at is not None:
        return
    attempt.alerted_at = now
    add_audit(
        s,
        merchant_id=attempt.merchant_id,
        actor=actor,
        action="attempt.needs_attention",
        entity_type="payment_attempt",
        entity_id=attempt.id,
        reason=reason or "terminal sale outcome unknown",
        now=now,
    )
    add_outbox(
        s,
        merchant_id=attempt.merchant_id,
        topic="attempt.needs_attention",
        channel="alert",
        dedupe_key=f"attempt.needs_attention:{attempt.id}",
        payload={"attempt_id": attempt.id, "kind": attempt.kind, "source": SOURCE_KIND},
        now=now,
    )


def mark_unknown(
    ctx: ServiceContext,
    s: Session,
    attempt: PaymentAttempt,
    code: str | None,
    message: str | None,
    *,
    flag: bool,
    actor: str,
    now: datetime,
) -> None:
    """An attempt now ``unknown``: why, when the reconciler looks, and (``flag``) the flag."""
    attempt.failure_code = code
    attempt.failure_message = message
    attempt.next_check_at = now + timedelta(seconds=ctx.settings.reconciler_steps_s[0])
    if flag:
        flag_for_attention(s, attempt, message, actor=actor, now=now)


def show_outcome(
    row: TerminalSale | TerminalOp,
    stage: str,
    text: str | None,
    note: str | None,
    now: datetime,
) -> None:
    """The row's stage and screen text once its attempt is settled."""
    row.stage = stage
    row.ui_text = (text or "")[:300] or None
    row.note = (note or "")[:2000] or None
    row.updated_at = now


def load(
    ctx: ServiceContext, model: type[Row], attempt_id: str
) -> tuple[PaymentAttempt, Row | None, Terminal | None]:
    """The attempt, its row and the row's terminal, as they are now."""
    with ctx.sessions() as s:
        attempt = s.get_one(PaymentAttempt, attempt_id)
        row = s.get(model, attempt_id)
        terminal = s.get(Terminal, row.terminal_id) if row is not None else None
    return attempt, row, terminal


def reread(ctx: ServiceContext, attempt_id: str) -> PaymentAttempt:
    with ctx.sessions() as s:
        return s.get_one(PaymentAttempt, attempt_id)


def _recheck_at(ctx: ServiceContext, attempt_id: str, when: datetime) -> None:
    with ctx.sessions.begin() as s:
        s.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id)
            .values(next_check_at=when)
            .execution_options(synchronize_session=False)
        )


def wait_or_give_up(
    ctx: ServiceContext,
    attempt: PaymentAttempt,
    row: TerminalSale | TerminalOp | None,
    terminal: Terminal | None,
    *,
    now: datetime,
    expire: Callable[[], object],
    give_up: Callable[[], object],
) -> PaymentAttempt | None:
    """The reconciler's steps before it looks a pending or unknown attempt up.

    A queued row is expired (``expire``) once :data:`QUEUE_TTL_S` is over, else looked
    at again then; a pending attempt still with the live process that claimed it (not
    one that took the terminal since) is looked at again after :data:`MAX_SALE_S`.
    A refund sent through the REST API (``via='rest'``, no lease) counts as live for
    :data:`MAX_SALE_S` after it was sent, far beyond any HTTP timeout. Both return the
    attempt as it is now: no lookup. A pending attempt whose process stopped (or ran
    far too long) is made ``unknown`` by ``give_up``; then, as for an attempt unknown
    already, None: look it up."""
    if row is not None and row.stage == "queued":
        if now - row.created_at >= timedelta(seconds=QUEUE_TTL_S):
            expire()
        else:
            _recheck_at(ctx, attempt.id, row.created_at + timedelta(seconds=QUEUE_TTL_S))
        return reread(ctx, attempt.id)
    if attempt.state == AttemptState.PENDING.value and row is not None:
        started = row.sent_at or row.created_at
        if isinstance(row, TerminalOp) and row.via == "rest":
            live = True  # its sender holds no lease: only the time bound applies
        else:
            live = terminal is not None and owner_holds_lease(terminal, row.claimed_by, now)
        if live and now - started < timedelta(seconds=MAX_SALE_S):
            _recheck_at(ctx, attempt.id, started + timedelta(seconds=MAX_SALE_S))
            return reread(ctx, attempt.id)
        give_up()
    return None
