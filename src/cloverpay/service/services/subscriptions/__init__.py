"""Subscriptions: plans, subscriptions, the billing run of our own scheduler, and the
Clover Recurring mode (Clover bills, we record). See ``docs/subscriptions.md``."""

from cloverpay.service.services.subscriptions._billing import (
    BILLING_ACTOR,
    BillingReport,
    BillingRun,
    billing_attempt_id,
)
from cloverpay.service.services.subscriptions._clover import (
    cancel_subscription,
    start_at_clover,
    sync_from_clover,
)
from cloverpay.service.services.subscriptions._manage import (
    billing_mode_of,
    create_plan,
    create_subscription,
    list_plans,
    list_subscriptions,
    load_plan,
    load_subscription,
    set_billing_mode,
    transition_subscription,
)
from cloverpay.service.services.subscriptions._periods import (
    add_intervals,
    period_bounds,
    period_index_at,
)

__all__ = [
    "BILLING_ACTOR",
    "BillingReport",
    "BillingRun",
    "add_intervals",
    "billing_attempt_id",
    "billing_mode_of",
    "cancel_subscription",
    "create_plan",
    "create_subscription",
    "list_plans",
    "list_subscriptions",
    "load_plan",
    "load_subscription",
    "period_bounds",
    "period_index_at",
    "set_billing_mode",
    "start_at_clover",
    "sync_from_clover",
    "transition_subscription",
]
