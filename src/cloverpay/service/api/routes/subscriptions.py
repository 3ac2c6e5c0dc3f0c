"""``/v1/plans``, ``/v1/subscriptions`` (+ ``/cancel``) and ``/v1/billing_settings``.

Every POST honours ``Idempotency-Key`` (the middleware stores and replays it)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.schemas import error_responses
from cloverpay.service.api.schemas_subscriptions import (
    BillingSettingsIn,
    BillingSettingsOut,
    PlanIn,
    PlanOut,
    SubscriptionIn,
    SubscriptionOut,
    plan_out,
    subscription_out,
)
from cloverpay.service.db import Plan
from cloverpay.service.services import subscriptions as svc

router = APIRouter(tags=["subscriptions"])

Status = Literal["active", "past_due", "canceled", "deactivated"]


def _subscription(ctx: Ctx, merchant_id: str, subscription_id: str) -> SubscriptionOut:
    with ctx.sessions() as s:
        sub = svc.load_subscription(s, merchant_id, subscription_id)
        return subscription_out(sub, s.get_one(Plan, sub.plan_id))


@router.post("/v1/plans", status_code=201, responses=error_responses(400, 409))
def create_plan(body: PlanIn, ctx: Ctx, who: CurrentPrincipal) -> PlanOut:
    plan = svc.create_plan(
        ctx,
        who.merchant_id,
        name=body.name,
        amount=body.amount,
        interval=body.interval,
        interval_count=body.interval_count,
        currency=body.currency,
        actor=who.actor,
    )
    return plan_out(plan)


@router.get("/v1/plans")
def list_plans(
    ctx: Ctx, who: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=200)] = 100
) -> list[PlanOut]:
    return [plan_out(p) for p in svc.list_plans(ctx, who.merchant_id, limit=limit)]


@router.get("/v1/plans/{plan_id}", responses=error_responses(404))
def get_plan(plan_id: str, ctx: Ctx, who: CurrentPrincipal) -> PlanOut:
    with ctx.sessions() as s:
        return plan_out(svc.load_plan(s, who.merchant_id, plan_id))


@router.post("/v1/subscriptions", status_code=201, responses=error_responses(400, 404, 409))
def create_subscription(body: SubscriptionIn, ctx: Ctx, who: CurrentPrincipal) -> SubscriptionOut:
    sub = svc.create_subscription(
        ctx,
        who.merchant_id,
        customer_id=body.customer_id,
        card_on_file_id=body.card_on_file_id,
        plan_id=body.plan_id,
        start_at=body.start_at,
        billing_mode=body.billing_mode,
        actor=who.actor,
    )
    return _subscription(ctx, who.merchant_id, sub.id)


@router.get("/v1/subscriptions")
def list_subscriptions(
    ctx: Ctx,
    who: CurrentPrincipal,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[SubscriptionOut]:
    rows = svc.list_subscriptions(ctx, who.merchant_id, status=status, limit=limit)
    return [subscription_out(sub, plan) for sub, plan in rows]


@router.get("/v1/subscriptions/{subscription_id}", responses=error_responses(404))
def get_subscription(subscription_id: str, ctx: Ctx, who: CurrentPrincipal) -> SubscriptionOut:
    return _subscription(ctx, who.merchant_id, subscription_id)


@router.post(
    "/v1/subscriptions/{subscription_id}/cancel",
    responses=error_responses(
        400, 404, 409, (502, "Clover did not cancel the subscription (error shape)")
    ),
)
def cancel_subscription(subscription_id: str, ctx: Ctx, who: CurrentPrincipal) -> SubscriptionOut:
    svc.cancel_subscription(ctx, who.merchant_id, subscription_id, actor=who.actor)
    return _subscription(ctx, who.merchant_id, subscription_id)


@router.get("/v1/billing_settings")
def get_billing_settings(ctx: Ctx, who: CurrentPrincipal) -> BillingSettingsOut:
    with ctx.sessions() as s:
        return BillingSettingsOut(billing_mode=svc.billing_mode_of(s, who.merchant_id))


@router.post("/v1/billing_settings", responses=error_responses(400, 409))
def set_billing_settings(
    body: BillingSettingsIn, ctx: Ctx, who: CurrentPrincipal
) -> BillingSettingsOut:
    mode = svc.set_billing_mode(ctx, who.merchant_id, body.billing_mode, actor=who.actor)
    return BillingSettingsOut(billing_mode=mode)
