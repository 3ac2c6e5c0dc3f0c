"""The billing run of our own scheduler (RELIABILITY.md scenario 10).

For each subscription that is due (``next_billing_at <= now``, status active or
past_due) the run:

1. **claims** it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
   SQLite; leased through ``claimed_until``, so a crashed run's claim expires);
2. makes the current period's **invoice**: the insert is the arbiter. ``invoices``
   has unique (``subscription_id``, ``period_start``), so a concurrent or repeated run
   loses at the constraint and uses the winner's invoice; the invoice is then opened
   (the Clover order; opening twice is a no-op);
3. **derives** where the period stands from its charge attempts, under the
   subscription's row lock (:func:`._standing.apply_outcomes`): paid → next period, status
   active; a charge attempt pending or unknown → look again later, never charge (the
   reconciler resolves it); new failed attempts → ``consecutive_failures``, one email
   and one CRM event per failure (dedupe keys), the next retry on the dunning schedule,
   deactivation (with its email) at the maximum; an attempt never sent because the
   merchant must reconnect to Clover (``merchant_reconnect_required``) is not the card's
   failure: no dunning, no email, the subscription is looked at again later;
4. **charges** the card on file through the money path (``pay_invoice``,
   ``initiator=MERCHANT``, ``is_scheduled``) with an attempt id derived from
   (invoice, step): a second run making the same dunning step loses at the attempt's
   primary key, and its idempotency key (derived from that id) is the same anyway.

Then it goes back to 3 with the charge's outcome. Nothing is kept in memory between
steps: a crash anywhere is finished by the next run (and the reconciler). Time comes
from ``ctx.now``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from cloverpay.service.core.crash import crash_point
from cloverpay.service.db import Invoice, Plan, Subscription
from cloverpay.service.domain import InvoiceStatus
from cloverpay.service.domain.states import InvalidTransition
from cloverpay.service.domain.subscription_states import BILLABLE_SUBSCRIPTION_STATES
from cloverpay.service.errors import AttemptUnresolvedError, ServiceError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.invoices import LineItemInput, create_invoice, open_invoice
from cloverpay.service.services.payments import pay_invoice
from cloverpay.service.services.records import audit_failure
from cloverpay.service.services.subscriptions._manage import load_subscription
from cloverpay.service.services.subscriptions._standing import (
    BILLING_ACTOR,
    BillingReport,
    apply_outcomes,
)

__all__ = ["BILLING_ACTOR", "BillingReport", "BillingRun", "billing_attempt_id"]

log = logging.getLogger("cloverpay.billing")

_ATTEMPT_NS = uuid.UUID("6f0c1f8e-4d7a-5b1e-9a57-2c1f0b6f5a10")
#: At most this many steps (period advances, charges) per subscription per run.
MAX_STEPS = 50

Progress = Callable[[int, int, str], None]


def billing_attempt_id(invoice_id: str, step: int) -> str:
    """The payment attempt id of dunning step ``step`` (0 = first try) of an invoice."""
    return uuid.uuid5(_ATTEMPT_NS, f"{invoice_id}:{step}").hex


class BillingRun:
    """One pass: ``BillingRun(ctx).run_once()``. Several may run at once, in threads or
    processes, against one database."""

    def __init__(self, ctx: ServiceContext, *, batch: int = 100) -> None:
        self.ctx = ctx
        self.batch = batch

    def claim(self, now: datetime) -> list[tuple[str, datetime]]:
        lease = now + timedelta(seconds=self.ctx.settings.subscription_lease_s)
        with self.ctx.sessions.begin() as s:
            rows = s.scalars(
                select(Subscription)
                .where(
                    Subscription.status.in_([st.value for st in BILLABLE_SUBSCRIPTION_STATES]),
                    Subscription.next_billing_at <= now,
                    or_(Subscription.claimed_until.is_(None), Subscription.claimed_until <= now),
                )
                .order_by(Subscription.next_billing_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.claimed_until = lease
            return [(row.id, lease) for row in rows]

    def release(self, subscription_id: str, lease: datetime) -> None:
        with self.ctx.sessions.begin() as s:
            s.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id, Subscription.claimed_until == lease)
                .values(claimed_until=None)
            )

    def run_once(self, *, progress: Progress | None = None) -> BillingReport:
        now = self.ctx.now()
        report = BillingReport()
        claimed = self.claim(now)
        for done, (sub_id, lease) in enumerate(claimed, start=1):
            report.claimed.append(sub_id)
            try:
                self.bill(sub_id, now, report)
            except Exception as exc:  # one subscription's trouble never stops the run
                log.exception("billing subscription %s failed", sub_id)
                report.errors[sub_id] = f"{type(exc).__name__}: {exc}"[:500]
                audit_failure(
                    self.ctx.sessions,
                    merchant_id=None,
                    actor=BILLING_ACTOR,
                    action="subscription.billing_failed",
                    entity_type="subscription",
                    entity_id=sub_id,
                    reason=report.errors[sub_id],
                )
            finally:
                self.release(sub_id, lease)
            if progress is not None:
                progress(done, len(claimed), sub_id)
        return report

    # -- one subscription ------------------------------------------------------------

    def bill(self, subscription_id: str, now: datetime, report: BillingReport) -> None:
        """Bring one subscription up to date at ``now`` (safe to call concurrently)."""
        with self.ctx.sessions() as s:
            mode = load_subscription(s, None, subscription_id).billing_mode
        if mode == "clover_recurring":
            from cloverpay.service.services.subscriptions._clover import sync_from_clover

            sync_from_clover(self.ctx, subscription_id, now, report)
            return
        for _ in range(MAX_STEPS):
            with self.ctx.sessions() as s:
                sub = load_subscription(s, None, subscription_id)
                plan = s.get_one(Plan, sub.plan_id)
            if sub.status not in {st.value for st in BILLABLE_SUBSCRIPTION_STATES}:
                return
            if sub.next_billing_at is None or sub.next_billing_at > now:
                return
            try:
                invoice_id = self._period_invoice(sub, plan, report)
                crash_point("billing_after_invoice_created")
                self._open(sub, invoice_id)
            except ServiceError as exc:
                self._postpone(subscription_id, now, f"invoice: {exc.message}")
                report.errors[subscription_id] = exc.message
                return
            if not self._settle_period(sub, invoice_id, now, report):
                return
        log.warning("subscription %s: stopped after %d billing steps", subscription_id, MAX_STEPS)

    def _settle_period(
        self, sub: Subscription, invoice_id: str, now: datetime, report: BillingReport
    ) -> bool:
        """Apply the period invoice's outcomes and charge while a dunning step is due.
        After a charge its outcome is applied here, on the same invoice, whatever the
        schedule says by then (a concurrent run may have postponed the subscription
        while the charge ran). True when the period was closed and billing goes on."""
        for _ in range(MAX_STEPS):
            decision, step = apply_outcomes(self.ctx, sub.id, invoice_id, now, report)
            if decision == "advanced":
                report.paid_periods.append(invoice_id)
                return True
            if decision != "charge" or not self._charge(sub, invoice_id, step, now, report):
                return False
            crash_point("billing_after_charge_settled")
        return False

    def _period_invoice(self, sub: Subscription, plan: Plan, report: BillingReport) -> str:
        """The invoice of the current period; created here unless it exists. The unique
        (subscription_id, period_start) decides between concurrent runs."""
        existing = self._find_invoice(sub)
        if existing is not None:
            return existing
        start, end = sub.current_period_start, sub.current_period_end
        try:
            invoice = create_invoice(
                self.ctx,
                sub.merchant_id,
                line_items=[
                    LineItemInput(
                        f"{plan.name} ({start:%Y-%m-%d} to {end:%Y-%m-%d})", 1, plan.amount
                    )
                ],
                currency=plan.currency,
                customer_id=sub.customer_id,
                memo=f"Subscription {sub.id}, period {sub.period_index + 1}",
                subscription_id=sub.id,
                period_start=start,
                due_at=start,
                actor=BILLING_ACTOR,
            )
        except IntegrityError:
            found = self._find_invoice(sub)
            if found is None:
                raise
            report.lost_races.append(f"invoice:{sub.id}:{start.isoformat()}")
            return found
        report.invoices_created.append(invoice.id)
        return invoice.id

    def _find_invoice(self, sub: Subscription) -> str | None:
        with self.ctx.sessions() as s:
            return s.scalar(
                select(Invoice.id).where(
                    Invoice.subscription_id == sub.id,
                    Invoice.period_start == sub.current_period_start,
                )
            )

    def _open(self, sub: Subscription, invoice_id: str) -> None:
        with self.ctx.sessions() as s:
            status = s.get_one(Invoice, invoice_id).status
        if status == InvoiceStatus.DRAFT.value:
            try:
                open_invoice(self.ctx, sub.merchant_id, invoice_id, actor=BILLING_ACTOR)
            except InvalidTransition:
                # A concurrent run opened it (and maybe paid it) since we looked.
                with self.ctx.sessions() as s:
                    if s.get_one(Invoice, invoice_id).status == InvoiceStatus.DRAFT.value:
                        raise

    def _postpone(self, subscription_id: str, now: datetime, why: str) -> None:
        with self.ctx.sessions.begin() as s:
            sub = load_subscription(s, None, subscription_id, lock=True)
            sub.last_error = why[:500]
            sub.next_billing_at = now + timedelta(seconds=self.ctx.settings.subscription_recheck_s)
            sub.updated_at = now

    def _charge(
        self, sub: Subscription, invoice_id: str, step: int, now: datetime, report: BillingReport
    ) -> bool:
        """Make dunning step ``step``; False when this run should stop here."""
        attempt_id = billing_attempt_id(invoice_id, step)
        try:
            pay_invoice(
                self.ctx,
                sub.merchant_id,
                invoice_id,
                card_on_file_id=sub.card_on_file_id,
                initiator="MERCHANT",
                is_scheduled=True,
                attempt_id=attempt_id,
                actor=BILLING_ACTOR,
            )
        except AttemptUnresolvedError:
            # Another run made this step (the attempt's primary key) or is making one.
            report.lost_races.append(f"attempt:{attempt_id}")
            return False
        except ServiceError as exc:  # card deleted, invoice not payable: nothing was sent
            self._postpone(sub.id, now, f"charge: {exc.message}")
            report.errors[sub.id] = exc.message
            return False
        report.charged.append(attempt_id)
        return True
