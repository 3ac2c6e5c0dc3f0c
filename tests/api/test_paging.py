from __future__ import annotations

import httpx
import pytest

from cloverpay.api import AsyncCloverClient, Charge, CloverClient

from .fake import CHARGE, FakeClover, json_response

MID = "MID4567890123"


def charges(*ids: str) -> list[dict[str, object]]:
    return [{**CHARGE, "id": i} for i in ids]


def paged_handler(ids: list[str], envelope: str):  # type: ignore[no-untyped-def]
    def reply(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", "10"))
        after = request.url.params.get("starting_after")
        start = ids.index(after) + 1 if after else 0
        chunk = ids[start : start + limit]
        more = start + limit < len(ids)
        if envelope == "data":
            body: object = {"object": "list", "has_more": more, "data": charges(*chunk)}
        elif envelope == "elements":
            body = {"object": "list", "has_more": more, "data": {"elements": charges(*chunk)}}
        else:  # no has_more at all: a full page means "maybe more"
            body = {"object": "list", "data": charges(*chunk)}
        return json_response(200, body)

    return reply


IDS = [f"CH{i:011d}" for i in range(7)]


@pytest.mark.parametrize("envelope", ["data", "elements", "bare"])
def test_sync_pages_follow_cursor(fake: FakeClover, envelope: str) -> None:
    fake.always("GET", "/v1/charges", paged_handler(IDS, envelope))
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    got = [c.id for c in client.charges.list(limit=3, customer="C1")]
    assert got == IDS
    cursors = [r.url.params.get("starting_after") for r in fake.requests]
    assert cursors == [None, IDS[2], IDS[5]]
    assert all(r.url.params["customer"] == "C1" for r in fake.requests)


@pytest.mark.anyio
@pytest.mark.parametrize("envelope", ["data", "elements", "bare"])
async def test_async_pages_follow_cursor(fake: FakeClover, envelope: str) -> None:
    fake.always("GET", "/v1/charges", paged_handler(IDS, envelope))
    client = AsyncCloverClient("t", base_url="http://clover.test", transport=fake.async_transport())
    got = [c.id async for c in client.charges.list(limit=3)]
    assert got == IDS
    first = await client.charges.list(limit=2).first_page()
    assert [c.id for c in first.data] == IDS[:2]


def test_without_has_more_a_full_last_page_costs_one_more_request(fake: FakeClover) -> None:
    fake.always("GET", "/v1/charges", paged_handler(IDS[:6], "bare"))
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    assert [c.id for c in client.charges.list(limit=3)] == IDS[:6]
    assert [r.url.params.get("starting_after") for r in fake.requests] == [
        None,
        IDS[2],
        IDS[5],
    ]


def test_lazy_and_first_page(fake: FakeClover) -> None:
    fake.always("GET", "/v1/charges", paged_handler(IDS, "data"))
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    pager = client.charges.list(limit=5)
    assert fake.requests == []
    page = pager.first_page()
    assert isinstance(page.data[0], Charge)
    assert page.has_more is True
    assert len(fake.requests) == 1


def test_server_ignoring_cursor_does_not_loop(fake: FakeClover) -> None:
    fake.always(
        "GET", "/v1/charges", json_response(200, {"has_more": True, "data": charges("A", "B")})
    )
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    assert [c.id for c in client.charges.list(limit=2)] == ["A", "B", "A", "B"]
    assert len(fake.requests) == 2  # second page repeats the cursor: stop


def test_created_filters_and_limit_validation(fake: FakeClover) -> None:
    fake.always("GET", "/v1/refunds", json_response(200, {"data": []}))
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    list(client.refunds.list(charge="CH1", created_gte=1700000000000))
    assert fake.requests[0].url.params["created.gte"] == "1700000000000"
    with pytest.raises(ValueError, match="limit"):
        client.refunds.list(limit=0)


def test_platform_offset_paging_and_external_payment_id(fake: FakeClover) -> None:
    payments = [{"id": f"P{i}", "externalPaymentId": "ext-1"} for i in range(150)]

    def reply(request: httpx.Request) -> httpx.Response:
        off = int(request.url.params.get("offset", "0"))
        lim = int(request.url.params["limit"])
        return json_response(200, {"elements": payments[off : off + lim]})

    fake.always("GET", f"/v3/merchants/{MID}/payments", reply)
    client = CloverClient(
        "t", merchant_id=MID, base_url="http://clover.test", transport=fake.transport()
    )
    got = list(client.platform.payments.list(external_payment_id="ext-1"))
    assert len(got) == 150
    assert got[0].external_payment_id == "ext-1"
    assert [r.url.params.get("offset") for r in fake.requests] == [None, "100"]
    assert fake.requests[0].url.params.get_list("filter") == ["externalPaymentId=ext-1"]


def test_recurring_bare_array(fake: FakeClover) -> None:
    fake.add("GET", "/recurring/v1/subscriptions", json_response(200, [{"id": "S1"}, {"id": "S2"}]))
    client = CloverClient(
        "t", merchant_id=MID, base_url="http://clover.test", transport=fake.transport()
    )
    assert [s.id for s in client.recurring.subscriptions.list()] == ["S1", "S2"]
    assert len(fake.requests) == 1


def test_platform_devices_and_orders(fake: FakeClover) -> None:
    fake.add(
        "GET",
        f"/v3/merchants/{MID}/devices",
        json_response(200, {"elements": [{"id": "D1", "serial": "C0"}]}),
    )
    fake.add(
        "GET",
        f"/v3/merchants/{MID}/orders",
        json_response(200, {"elements": [{"id": "O1", "total": 5}]}),
    )
    client = CloverClient(
        "t", merchant_id=MID, base_url="http://clover.test", transport=fake.transport()
    )
    assert [d.serial for d in client.platform.devices.list()] == ["C0"]
    assert [o.total for o in client.platform.orders.list(filter="state=open")] == [5]
    assert fake.requests[1].url.params["filter"] == "state=open"


def test_default_page_size_is_clovers_maximum(fake: FakeClover) -> None:
    fake.always("GET", "/v1/orders", json_response(200, {"data": []}))
    client = CloverClient("t", base_url="http://clover.test", transport=fake.transport())
    list(client.orders.list())
    list(client.orders.list(limit=5))
    assert [r.url.params["limit"] for r in fake.requests] == ["100", "5"]
