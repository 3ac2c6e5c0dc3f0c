"""Dashboard page: subscriptions (plan, customer, status, period, dunning, next billing),
with a cancel button."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from cloverpay.service.dashboard._common import Csrf, Ctx, Staff, page
from cloverpay.service.dashboard._routes import back
from cloverpay.service.db import Customer, Plan, Subscription
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.subscriptions import billing_mode_of, cancel_subscription

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)

STATUSES = ("active", "past_due", "deactivated", "canceled")


@router.get("/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, ctx: Ctx, staff: Staff, status: str = "") -> Response:
    with ctx.sessions() as s:
        stmt = (
            select(Subscription, Plan, Customer)
            .join(Plan, Plan.id == Subscription.plan_id)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Subscription.merchant_id == staff.merchant_id)
        )
        if status in STATUSES:
            stmt = stmt.where(Subscription.status == status)
        rows = list(s.execute(stmt.order_by(Subscription.created_at.desc()).limit(300)).all())
        mode = billing_mode_of(s, staff.merchant_id)
    return page(
        request,
        "subscriptions.html",
        staff,
        {"rows": rows, "status": status, "statuses": STATUSES, "billing_mode": mode},
    )


@router.post("/subscriptions/{subscription_id}/cancel")
def subscription_cancel(ctx: Ctx, staff: Csrf, subscription_id: str) -> Response:
    try:
        cancel_subscription(ctx, staff.merchant_id, subscription_id, actor=staff.actor)
    except ServiceError as exc:
        return back("/dashboard/subscriptions", err=exc.message)
    return back("/dashboard/subscriptions", msg="Subscription canceled.")
