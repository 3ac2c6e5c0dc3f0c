"""``/v1/customers`` and their cards on file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.schemas import (
    CardIn,
    CardOut,
    CustomerIn,
    CustomerOut,
    error_responses,
)
from cloverpay.service.api.views import card_out, customer_out
from cloverpay.service.services import customers as svc

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.post("", status_code=201, responses=error_responses(400, 409))
def create_customer(body: CustomerIn, ctx: Ctx, who: CurrentPrincipal) -> CustomerOut:
    customer = svc.create_customer(
        ctx,
        who.merchant_id,
        name=body.name,
        email=body.email,
        phone=body.phone,
        external_id=body.external_id,
        actor=who.actor,
    )
    return customer_out(customer)


@router.get("")
def list_customers(
    ctx: Ctx, who: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[CustomerOut]:
    return [customer_out(c) for c in svc.list_customers(ctx, who.merchant_id, limit=limit)]


@router.get("/{customer_id}", responses=error_responses(404))
def get_customer(customer_id: str, ctx: Ctx, who: CurrentPrincipal) -> CustomerOut:
    with ctx.sessions() as s:
        return customer_out(svc.load_customer(s, who.merchant_id, customer_id))


@router.post(
    "/{customer_id}/cards",
    status_code=201,
    responses=error_responses(
        400, (402, "Clover declined the card (error shape, `card_error`)"), 404, 409, 502
    ),
)
def add_card(customer_id: str, body: CardIn, ctx: Ctx, who: CurrentPrincipal) -> CardOut:
    card = svc.add_card(
        ctx,
        who.merchant_id,
        customer_id,
        svc.CardInput(
            token=body.token,
            brand=body.brand,
            first6=body.first6,
            last4=body.last4,
            exp_month=body.exp_month,
            exp_year=body.exp_year,
        ),
        actor=who.actor,
    )
    return card_out(card)


@router.get("/{customer_id}/cards", responses=error_responses(404))
def list_cards(customer_id: str, ctx: Ctx, who: CurrentPrincipal) -> list[CardOut]:
    return [card_out(c) for c in svc.list_cards(ctx, who.merchant_id, customer_id)]
