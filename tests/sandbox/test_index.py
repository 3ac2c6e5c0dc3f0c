"""ListIndex paging, and that list endpoints page through indexes, never full scans."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from cloverpay.sandbox import ListIndex, Sandbox

from .helpers import charge


def build(n: int, same_ms: bool = False) -> tuple[ListIndex, list[str]]:
    idx = ListIndex()
    ids = [f"ID{i:05d}" for i in range(n)]
    for i, object_id in enumerate(ids):
        idx.add(object_id, 1000 if same_ms else 1000 + i)
    return idx, ids


def test_page_newest_first_and_cursors() -> None:
    idx, _ = build(7)
    page = idx.page(3)
    assert page.ids == ["ID00006", "ID00005", "ID00004"]
    assert page.has_more
    after = idx.page(3, starting_after=idx.position("ID00004"))
    assert after.ids == ["ID00003", "ID00002", "ID00001"]
    before = idx.page(2, ending_before=idx.position("ID00002"))
    assert before.ids == ["ID00004", "ID00003"]
    assert before.has_more
    assert idx.page(10, created_gte=1005).ids == ["ID00006", "ID00005"]
    assert idx.page(10, created_gt=1005, created_lte=1006).ids == ["ID00006"]
    assert idx.page(10, created_lt=1001).ids == ["ID00000"]


def test_remove_and_out_of_order_insert() -> None:
    idx, _ = build(3)
    idx.add("LATE", 500)
    assert idx.page(10).ids[-1] == "LATE"
    idx.remove("ID00001")
    assert "ID00001" not in idx
    assert idx.page(10).ids == ["ID00002", "ID00000", "LATE"]
    idx.add("ID00002", 9999)  # re-adding is a no-op
    assert len(idx) == 3


@given(n=st.integers(0, 60), limit=st.integers(1, 20), same_ms=st.booleans())
def test_walking_pages_visits_everything_once(n: int, limit: int, same_ms: bool) -> None:
    idx, ids = build(n, same_ms)
    seen: list[str] = []
    cursor = None
    while True:
        page = idx.page(limit, starting_after=cursor)
        seen.extend(page.ids)
        if not page.has_more:
            break
        cursor = idx.position(page.ids[-1])
    assert seen == list(reversed(ids))
    # and backwards from the oldest
    back: list[str] = []
    if ids:
        cursor = idx.position(ids[0])
        while True:
            page = idx.page(limit, ending_before=cursor)
            back = page.ids + back
            if not page.has_more:
                break
            cursor = idx.position(page.ids[0])
        assert back == list(reversed(ids[1:]))


class _NoScanDict(dict[str, Any]):
    """A dict that fails the test if anything iterates over all its values."""

    def values(self) -> Any:
        raise AssertionError("full scan of the store")

    def items(self) -> Any:
        raise AssertionError("full scan of the store")

    def __iter__(self) -> Any:
        raise AssertionError("full scan of the store")


def test_list_and_retrieve_never_scan(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = [charge(http, sandbox, amount=10 + i).json()["id"] for i in range(30)]
    for name in ("charges", "orders", "refunds", "customers"):
        store = getattr(sandbox.state.ecommerce, name)
        store.objects = _NoScanDict(store.objects)
    http.post("/v1/refunds", json={"charge": ids[0], "amount": 1}).raise_for_status()
    assert len(http.get("/v1/charges?limit=5").json()["data"]) == 5
    assert (
        http.get(f"/v1/charges?limit=5&starting_after={ids[20]}").json()["data"][0]["id"] == ids[19]
    )
    assert http.get(f"/v1/charges/{ids[3]}").status_code == 200
    assert len(http.get("/v1/orders?limit=100").json()["data"]) == 30
    assert len(http.get(f"/v1/refunds?charge={ids[0]}").json()["data"]) == 1
    # each list's cost is bounded by the page, not the store
    idx = sandbox.state.ecommerce.charges.indexes[sandbox.state.merchant.merchant_id]
    assert len(idx) == 30
