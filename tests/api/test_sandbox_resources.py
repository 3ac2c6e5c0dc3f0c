"""Every resource namespace against the sandbox, four ways (in-process/socket x sync/async)."""

from __future__ import annotations

import pytest

from cloverpay.api import (
    CheckoutSession,
    Customer,
    DeletedObject,
    NotFoundError,
    Order,
    PakmsKey,
    Plan,
    Subscription,
    alternate_tender,
)

from .sandbox_env import Env, env, server, token

__all__ = ["env", "server"]  # fixtures used below

pytestmark = pytest.mark.anyio


async def test_pakms_and_token_without_configured_key(env: Env) -> None:
    c = env.client(api_access_key=None)
    key = await env.run(c.pakms.get())
    assert isinstance(key, PakmsKey)
    assert key.api_access_key == env.creds.api_access_key
    fresh = env.client(api_access_key=None)
    assert (await token(env, fresh)).startswith("clv_")  # fetched the key by itself


async def test_orders(env: Env) -> None:
    c = env.client()
    order = await env.run(
        c.orders.create(
            currency="usd",
            email="jo@example.com",
            items=[{"type": "sku", "amount": 1800, "description": "Item", "quantity": 1}],
        )
    )
    assert isinstance(order, Order)
    assert order.status == "created"
    assert (await env.run(c.orders.retrieve(order.id))).id == order.id
    updated = await env.run(c.orders.update(order.id, email="kim@example.com"))
    assert updated.email == "kim@example.com"
    assert order.id in [o.id for o in await env.items(c.orders.list())]
    paid = await env.run(c.orders.pay(order.id, source=await token(env, c)))
    assert paid.status == "paid"
    assert paid.charge
    ret = await env.run(c.orders.returns(order.id, reason="requested_by_customer"))
    assert ret.order == order.id


async def test_order_paid_in_cash(env: Env) -> None:
    c = env.client()
    order = await env.run(
        c.orders.create(currency="usd", items=[{"type": "sku", "amount": 700, "quantity": 1}])
    )
    paid = await env.run(c.orders.pay(order.id, **alternate_tender("cash")))
    assert paid.status == "paid"
    charge = await env.run(
        c.charges.create(amount=300, currency="usd", **alternate_tender("check"))
    )
    assert charge.status == "succeeded"


async def test_customers_card_on_file(env: Env) -> None:
    c = env.client()
    cust = await env.run(
        c.customers.create(
            email="jo@example.com", source=await token(env, c), first_name="Jo", last_name="Doe"
        )
    )
    assert isinstance(cust, Customer)
    assert cust.first_name == "Jo"
    assert (await env.run(c.customers.retrieve(cust.id))).email == "jo@example.com"
    updated = await env.run(c.customers.update(cust.id, phone="4085551858"))
    assert updated.phone == "4085551858"
    assert cust.id in [x.id for x in await env.items(c.customers.list())]
    charge = await env.run(
        c.charges.create(
            amount=2500,
            currency="usd",
            source=cust.id,
            stored_credentials={
                "sequence": "SUBSEQUENT",
                "initiator": "CARDHOLDER",
                "is_scheduled": False,
            },
        )
    )
    assert charge.customer in (cust.id, None)
    assert cust.sources is not None
    assert cust.sources.data
    card_id = cust.sources.data[0]
    assert isinstance(card_id, str)
    gone = await env.run(c.customers.delete_source(cust.id, card_id))
    assert isinstance(gone, DeletedObject)
    assert gone.deleted
    await env.run(c.customers.delete(cust.id))
    with pytest.raises(NotFoundError):
        await env.run(c.customers.retrieve(cust.id))


async def test_refunds_list_and_retrieve(env: Env) -> None:
    c = env.client()
    charge = await env.run(c.charges.create(amount=900, currency="usd", source=await token(env, c)))
    r1 = await env.run(c.refunds.create(charge=charge.id, amount=200, metadata={"ours": "R1"}))
    r2 = await env.run(c.refunds.create(charge=charge.id, amount=300))
    assert r1.metadata == {"ours": "R1"}
    again = await env.run(c.refunds.retrieve(r1.id))
    assert (again.amount, again.metadata) == (200, {"ours": "R1"})
    listed = await env.items(c.refunds.list(charge=charge.id, limit=1))
    assert sorted(r.id for r in listed) == sorted([r1.id, r2.id])
    assert {r.id: r.metadata for r in listed} == {r1.id: {"ours": "R1"}, r2.id: None}


async def test_recurring_plans_and_subscriptions(env: Env) -> None:
    c = env.client()
    cust = await env.run(c.customers.create(email="sub@example.com", source=await token(env, c)))
    plan = await env.run(
        c.recurring.plans.create(name="Gold", amount=999, interval="MONTH", interval_count=1)
    )
    assert isinstance(plan, Plan)
    assert plan.interval_count == 1
    assert (await env.run(c.recurring.plans.retrieve(plan.id))).name == "Gold"
    assert plan.id in [p.id for p in await env.items(c.recurring.plans.list())]
    plan2 = await env.run(c.recurring.plans.update(plan.id, note="best"))
    assert plan2.note == "best"
    sub = await env.run(c.recurring.subscriptions.create(plan.id, customer_id=cust.id))
    assert isinstance(sub, Subscription)
    assert (await env.run(c.recurring.subscriptions.retrieve(sub.id))).id == sub.id
    assert [s.id for s in await env.items(c.recurring.subscriptions.list(plan.id))] == [sub.id]
    assert sub.id in [s.id for s in await env.items(c.recurring.subscriptions.list())]
    sub2 = await env.run(c.recurring.subscriptions.update(sub.id, amount=1999))
    assert sub2.amount == 1999
    await env.run(c.recurring.subscriptions.cancel(sub.id))
    await env.run(c.recurring.plans.delete(plan.id))
    with pytest.raises(NotFoundError):
        await env.run(c.recurring.plans.retrieve(plan.id))


async def test_hosted_checkout_session(env: Env) -> None:
    c = env.client()
    session = await env.run(
        c.checkout.sessions.create(
            customer={"email": "a@example.com", "first_name": "Alex"},
            shopping_cart={"line_items": [{"name": "Juice", "price": 600, "unit_qty": 2}]},
            redirect_urls={"success": "https://shop.example/ok"},
        )
    )
    assert isinstance(session, CheckoutSession)
    assert session.href
    again = await env.run(c.checkout.sessions.retrieve(session.checkout_session_id))
    assert again.checkout_session_id == session.checkout_session_id


async def test_platform(env: Env) -> None:
    c = env.client()
    merchant = await env.run(c.platform.merchant())
    assert merchant.id == env.creds.merchant_id
    assert isinstance(await env.items(c.platform.devices.list()), list)
    charge = await env.run(
        c.charges.create(amount=1234, currency="usd", source=await token(env, c))
    )
    payments = await env.items(c.platform.payments.list())
    assert charge.amount in [p.amount for p in payments]
    pay = await env.run(c.platform.payments.retrieve(payments[0].id))
    assert pay.id == payments[0].id
    # A terminal payment the POS started with its own externalPaymentId.
    from cloverpay.sandbox import PlatformStore

    store = env.sb.state.domain(PlatformStore)
    store.record_payment(
        env.creds.merchant_id,
        {
            "id": "TERMPAY000001",
            "amount": 555,
            "externalPaymentId": "pos-sale-17",
            "result": "SUCCESS",
            "createdTime": 1,
        },
    )
    found = await env.items(c.platform.payments.list(external_payment_id="pos-sale-17"))
    assert [p.id for p in found] == ["TERMPAY000001"]
    assert await env.items(c.platform.payments.list(external_payment_id="nope")) == []
    orders = await env.items(c.platform.orders.list())
    assert charge.order in [o.id for o in orders]
    assert (await env.run(c.platform.orders.retrieve(charge.order))).id == charge.order


@pytest.mark.parametrize(
    ("pan", "approves"), [("4242424242424242", True), ("4005571702222222", False)]
)
async def test_token_from_encrypted_pan(env: Env, pan: str, approves: bool) -> None:
    """The PAN never leaves us in clear: encrypt it with the TransArmor key, tokenize."""
    from cloverpay.api import CardDeclinedError, encrypt_pan, load_ta_keys

    keys = env._control.get("/assets/keys.json").json()
    encrypted = encrypt_pan(pan, load_ta_keys(keys, "sandbox"))
    c = env.client()
    tok = await env.run(
        c.tokens.create(
            card={
                "encrypted_pan": encrypted,
                "first6": pan[:6],
                "last4": pan[-4:],
                "exp_month": "12",
                "exp_year": "2030",
                "cvv": "123",
                "brand": "VISA",
            }
        )
    )
    assert tok.card is not None
    assert tok.card.last4 == pan[-4:]
    if approves:
        charge = await env.run(c.charges.create(amount=100, currency="usd", source=tok.id))
        assert charge.status == "succeeded"
    else:
        with pytest.raises(CardDeclinedError):
            await env.run(c.charges.create(amount=100, currency="usd", source=tok.id))
