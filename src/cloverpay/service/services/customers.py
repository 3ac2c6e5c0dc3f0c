"""Customers and cards on file.

A card is saved by giving Clover a one-time ``clv_`` token for the customer's Clover
customer record; Clover turns it into a multi-pay credential and we keep its id with
brand, first6/last4 and expiry only (no card number, no CVV; rule 9).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloverpay.api import APIError, CardDeclinedError, CloverError
from cloverpay.api import Customer as CloverCustomer
from cloverpay.service.db import CardOnFile, Customer, Merchant
from cloverpay.service.errors import CardDeclined, InvalidRequest, NotFound, UpstreamError
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit, audit_failure

__all__ = ["CardInput", "add_card", "create_customer", "list_customers", "load_customer"]

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardInput:
    token: str
    brand: str | None = None
    first6: str | None = None
    last4: str | None = None
    exp_month: str | None = None
    exp_year: str | None = None


def load_customer(session: Session, merchant_id: str, customer_id: str) -> Customer:
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
    )
    if customer is None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    return customer


def create_customer(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    name: str | None,
    email: str | None,
    phone: str | None = None,
    external_id: str | None = None,
    actor: str,
) -> Customer:
    with ctx.sessions.begin() as s:
        customer = Customer(
            merchant_id=merchant_id, name=name, email=email, phone=phone, external_id=external_id
        )
        s.add(customer)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="customer.created",
            entity_type="customer",
            entity_id=customer.id,
        )
    return customer


def list_customers(ctx: ServiceContext, merchant_id: str, *, limit: int = 50) -> list[Customer]:
    with ctx.sessions() as s:
        stmt = (
            select(Customer)
            .where(Customer.merchant_id == merchant_id)
            .order_by(Customer.created_at.desc(), Customer.id)
            .limit(limit)
        )
        return list(s.scalars(stmt).all())


def list_cards(ctx: ServiceContext, merchant_id: str, customer_id: str) -> list[CardOnFile]:
    with ctx.sessions() as s:
        load_customer(s, merchant_id, customer_id)
        stmt = select(CardOnFile).where(
            CardOnFile.customer_id == customer_id, CardOnFile.deleted_at.is_(None)
        )
        return list(s.scalars(stmt).all())


def _saved_card_id(clover_customer: CloverCustomer) -> str | None:
    sources = clover_customer.sources
    if sources is None or not sources.data:
        return None
    last = sources.data[-1]
    return last if isinstance(last, str) else str(last.get("id") or "") or None


def add_card(
    ctx: ServiceContext, merchant_id: str, customer_id: str, card: CardInput, *, actor: str
) -> CardOnFile:
    if not card.token.startswith("clv_"):
        raise InvalidRequest("token must be a Clover card token (clv_...)", field="token")
    with ctx.sessions() as s:
        customer = load_customer(s, merchant_id, customer_id)
        merchant = s.get_one(Merchant, merchant_id)
        clover_customer_id = customer.clover_customer_id
        email = customer.email or f"customer-{customer.id}@invalid.example"
    try:
        with ctx.gateway.client(merchant) as clover:
            if clover_customer_id is None:
                saved = clover.customers.create(email=email, source=card.token)
            else:
                saved = clover.customers.update(clover_customer_id, source=card.token)
    except CloverError as exc:
        audit_failure(
            ctx.sessions,
            merchant_id=merchant_id,
            actor=actor,
            action="card.save_failed",
            entity_type="customer",
            entity_id=customer_id,
            reason=str(exc),
        )
        if isinstance(exc, CardDeclinedError):
            raise CardDeclined(exc.message, field="token") from exc
        if isinstance(exc, APIError) and exc.http_status and exc.http_status < 500:
            raise InvalidRequest(exc.message, field="token", code=exc.code) from exc
        raise UpstreamError(f"Clover did not save the card: {exc.message}") from exc
    card_ref = _saved_card_id(saved)
    if card_ref is None:
        raise UpstreamError("Clover saved no card for the customer", field="token")
    with ctx.sessions.begin() as s:
        customer = load_customer(s, merchant_id, customer_id)
        customer.clover_customer_id = saved.id
        row = CardOnFile(
            merchant_id=merchant_id,
            customer_id=customer_id,
            clover_token=card_ref,
            clover_customer_id=saved.id,
            brand=card.brand,
            first6=card.first6,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
        s.add(row)
        s.flush()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="card.saved",
            entity_type="card_on_file",
            entity_id=row.id,
            data={"customer_id": customer_id, "brand": card.brand, "last4": card.last4},
        )
    return row
