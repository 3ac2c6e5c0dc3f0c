"""``/v1/settings`` through the real app (TestClient, API keys) on SQLite and PostgreSQL:
defaults, each setting changed, bad values refused by name with nothing written,
audit rows only for real changes, the dashboard and the API on the same values, and
one merchant's key never reaching another's settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from cloverpay.service.api import create_app
from cloverpay.service.api.schemas_settings import PayFlow
from cloverpay.service.core.security import ApiKey
from cloverpay.service.dashboard import create_staff_user
from cloverpay.service.db import AuditLog, IdempotencyKey, Merchant, MerchantWebSettings
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchant_settings import (
    PAY_FLOWS,
    SettingsChange,
    read_settings,
    update_settings,
)
from cloverpay.service.services.merchants import connect_merchant, create_api_key
from cloverpay.service.web import WebSettings

from .web.conftest import STAFF_EMAIL, STAFF_PASSWORD, login

DEFAULTS = {
    "pay_flow": "iframe",
    "fee_rate_bps": 0,
    "fee_fixed_cents": 0,
    "receipts_enabled": True,
    "updated_at": None,
}
SETTINGS_ACTIONS = ("settings.pay_flow", "settings.fee_rate", "settings.receipts")


@pytest.fixture
def app(ctx: ServiceContext) -> FastAPI:
    application = create_app(context=ctx)
    application.state.web = WebSettings(
        public_url="http://testserver", clover_sdk_url="https://sdk.clover.test/sdk.js"
    )
    return application


def _client(app: FastAPI, key: ApiKey) -> Iterator[TestClient]:
    with TestClient(app, headers={"Authorization": f"Bearer {key.secret}"}) as client:
        yield client


@pytest.fixture
def api_key(ctx: ServiceContext, merchant: Merchant) -> ApiKey:
    return create_api_key(ctx, merchant.id)


@pytest.fixture
def actor(api_key: ApiKey) -> str:
    """Who the audit log names for a change made with ``api_key``."""
    return f"api_key:{api_key.prefix}"


@pytest.fixture
def api(app: FastAPI, api_key: ApiKey) -> Iterator[TestClient]:
    yield from _client(app, api_key)


@pytest.fixture
def other_merchant(ctx: ServiceContext) -> Merchant:
    return connect_merchant(
        ctx, name="Other Roofing", clover_merchant_id="OTHERMID0001", access_token="other-token"
    )


@pytest.fixture
def other_api(app: FastAPI, ctx: ServiceContext, other_merchant: Merchant) -> Iterator[TestClient]:
    yield from _client(app, create_api_key(ctx, other_merchant.id))


@dataclass
class Dashboard:
    """A signed-in staff browser and its form token."""

    http: TestClient
    csrf: str

    def post(self, path: str, **form: str) -> Any:
        return self.http.post(path, data={**form, "csrf_token": self.csrf})


@pytest.fixture
def dashboard(app: FastAPI, ctx: ServiceContext, merchant: Merchant) -> Iterator[Dashboard]:
    create_staff_user(ctx, merchant.id, email=STAFF_EMAIL, password=STAFF_PASSWORD)
    with TestClient(app, follow_redirects=False) as client:
        yield Dashboard(client, login(client))


def _audit(ctx: ServiceContext, merchant_id: str) -> list[tuple[str, str, str | None, str | None]]:
    with ctx.sessions() as s:
        rows = s.scalars(
            select(AuditLog)
            .where(AuditLog.merchant_id == merchant_id, AuditLog.action.in_(SETTINGS_ACTIONS))
            .order_by(AuditLog.id)
        ).all()
        return [(r.actor, r.action, r.from_state, r.to_state) for r in rows]


def _stored(ctx: ServiceContext, merchant_id: str) -> MerchantWebSettings | None:
    with ctx.sessions() as s:
        return s.get(MerchantWebSettings, merchant_id)


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _ok_list(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    body: list[dict[str, Any]] = resp.json()
    return body


def test_the_api_and_the_service_allow_the_same_pay_flows() -> None:
    assert get_args(PayFlow) == PAY_FLOWS


def test_defaults_are_read_without_writing(
    api: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    assert _ok(api.get("/v1/settings")) == DEFAULTS
    assert _stored(ctx, merchant.id) is None


def test_each_setting_changes_alone_and_is_audited(
    api: TestClient, actor: str, ctx: ServiceContext, merchant: Merchant, clock: Any
) -> None:
    expected = dict(DEFAULTS)
    steps: list[tuple[dict[str, Any], tuple[str, str, str]]] = [
        ({"pay_flow": "hosted_checkout"}, ("settings.pay_flow", "iframe", "hosted_checkout")),
        ({"fee_rate_bps": 290}, ("settings.fee_rate", "0bps+0c", "290bps+0c")),
        ({"fee_fixed_cents": 30}, ("settings.fee_rate", "290bps+0c", "290bps+30c")),
        ({"receipts_enabled": False}, ("settings.receipts", "on", "off")),
        ({"pay_flow": "iframe"}, ("settings.pay_flow", "hosted_checkout", "iframe")),
        ({"receipts_enabled": True}, ("settings.receipts", "off", "on")),
        (
            {"fee_rate_bps": 2000, "fee_fixed_cents": 1000},
            ("settings.fee_rate", "290bps+30c", "2000bps+1000c"),
        ),
        (
            {"fee_rate_bps": 0, "fee_fixed_cents": 0},
            ("settings.fee_rate", "2000bps+1000c", "0bps+0c"),
        ),
    ]
    for n, (patch, audit_row) in enumerate(steps, start=1):
        clock.advance(60)
        expected.update(
            patch, updated_at=clock.value.isoformat() + "Z"
        )  # naive UTC, answered with its offset
        assert _ok(api.patch("/v1/settings", json=patch)) == expected
        assert _ok(api.get("/v1/settings")) == expected
        audit = _audit(ctx, merchant.id)
        assert len(audit) == n, patch
        assert audit[-1] == (actor, *audit_row)
    # the same rows through the API's own audit log, on the merchant
    log = _ok_list(api.get("/v1/audit_log", params={"entity_id": merchant.id}))
    settings_rows = [e for e in log if e["action"].startswith("settings.")]
    assert len(settings_rows) == len(steps)
    assert {e["entity_type"] for e in settings_rows} == {"merchant"}


def test_several_settings_in_one_patch(
    api: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    body = {
        "pay_flow": "hosted_checkout",
        "fee_rate_bps": 275,
        "fee_fixed_cents": 10,
        "receipts_enabled": False,
    }
    out = _ok(api.patch("/v1/settings", json=body))
    assert {k: out[k] for k in body} == body
    assert [a[1:] for a in _audit(ctx, merchant.id)] == [
        ("settings.pay_flow", "iframe", "hosted_checkout"),
        ("settings.fee_rate", "0bps+0c", "275bps+10c"),
        ("settings.receipts", "on", "off"),
    ]


BAD = [
    ({"fee_rate_bps": -1}, "fee_rate_bps"),
    ({"fee_rate_bps": 2001}, "fee_rate_bps"),
    ({"fee_fixed_cents": -5}, "fee_fixed_cents"),
    ({"fee_fixed_cents": 1001}, "fee_fixed_cents"),
    ({"fee_rate_bps": "290"}, "fee_rate_bps"),
    ({"fee_rate_bps": 2.5}, "fee_rate_bps"),
    ({"fee_rate_bps": True}, "fee_rate_bps"),
    ({"pay_flow": "stripe"}, "pay_flow"),
    ({"pay_flow": "HOSTED_CHECKOUT"}, "pay_flow"),
    ({"pay_flow": None}, "pay_flow"),
    ({"receipts_enabled": "no"}, "receipts_enabled"),
    ({"receipts_enabled": 0}, "receipts_enabled"),
    ({"receipts_enabled": None}, "receipts_enabled"),
    ({"surprise": 1}, "surprise"),
    ({"fee_rate": 290}, "fee_rate"),  # a near miss of fee_rate_bps
    ({"updated_at": "2030-01-01T00:00:00"}, "updated_at"),  # read-only
]


@pytest.mark.parametrize(("bad", "field"), BAD, ids=[f"{b}" for b, _ in BAD])
def test_a_bad_field_is_named_and_nothing_changes(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, bad: dict[str, Any], field: str
) -> None:
    _ok(api.patch("/v1/settings", json={"fee_rate_bps": 100}))
    before, audit_before = _ok(api.get("/v1/settings")), _audit(ctx, merchant.id)
    # valid changes beside the bad one are not applied either (all or nothing)
    body = {"pay_flow": "hosted_checkout", "receipts_enabled": False, "fee_fixed_cents": 7}
    body = {k: v for k, v in body.items() if k not in bad} | bad
    resp = api.patch("/v1/settings", json=body)
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert set(resp.json()) == {"error"}
    assert (err["type"], err["code"], err["field"]) == (
        "invalid_request_error",
        "parameter_invalid",
        field,
    )
    assert field in err["message"]
    assert _ok(api.get("/v1/settings")) == before
    assert _audit(ctx, merchant.id) == audit_before


@pytest.mark.parametrize("body", [[], "x", 5, None])
def test_a_body_that_is_not_an_object_is_refused(api: TestClient, body: Any) -> None:
    resp = api.patch("/v1/settings", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert _ok(api.get("/v1/settings")) == DEFAULTS


def test_a_patch_that_changes_nothing_writes_nothing(
    api: TestClient, ctx: ServiceContext, merchant: Merchant, clock: Any
) -> None:
    assert _ok(api.patch("/v1/settings", json={})) == DEFAULTS
    assert (
        _ok(api.patch("/v1/settings", json={"pay_flow": "iframe", "receipts_enabled": True}))
        == DEFAULTS
    )
    assert _stored(ctx, merchant.id) is None  # not even a row of defaults
    changed = _ok(api.patch("/v1/settings", json={"fee_rate_bps": 290}))
    clock.advance(60)
    again = api.patch(
        "/v1/settings",
        json={"fee_rate_bps": 290, "pay_flow": "iframe"},
        headers={"Idempotency-Key": "k1"},
    )
    assert _ok(again) == changed  # same values, same updated_at: nothing was written
    assert len(_audit(ctx, merchant.id)) == 1


def test_patch_does_not_use_idempotency_key(
    api: TestClient, ctx: ServiceContext, merchant: Merchant
) -> None:
    """PATCH sets values: the same PATCH again ends in the same settings, so the key is
    neither stored nor replayed, and a second PATCH under the same key takes effect."""
    key = {"Idempotency-Key": "crm-sync-42"}
    first = api.patch("/v1/settings", json={"fee_rate_bps": 300}, headers=key)
    assert _ok(first)["fee_rate_bps"] == 300
    second = api.patch("/v1/settings", json={"fee_rate_bps": 310}, headers=key)
    assert _ok(second)["fee_rate_bps"] == 310
    assert "idempotent-replayed" not in second.headers
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    assert [a[3] for a in _audit(ctx, merchant.id)] == ["300bps+0c", "310bps+0c"]


def test_dashboard_and_api_see_the_same_settings(
    api: TestClient, actor: str, dashboard: Dashboard, ctx: ServiceContext, merchant: Merchant
) -> None:
    # API → dashboard
    _ok(
        api.patch(
            "/v1/settings",
            json={
                "pay_flow": "hosted_checkout",
                "fee_rate_bps": 290,
                "fee_fixed_cents": 30,
                "receipts_enabled": False,
            },
        )
    )
    page = dashboard.http.get("/dashboard/settings").text
    assert 'value="hosted_checkout" checked' in page
    assert 'value="iframe" checked' not in page
    assert 'name="rate_percent" inputmode="decimal" value="2.90"' in page
    assert 'name="fixed" inputmode="decimal" value="0.30"' in page
    assert 'id="receipts-enabled" checked' not in page
    # dashboard → API
    for path, data in (
        ("/dashboard/settings", {"pay_flow": "iframe"}),
        ("/dashboard/settings/fees", {"rate_percent": "3.5", "fixed": "$0.25"}),
        ("/dashboard/settings/receipts", {"receipts": "1"}),
    ):
        r = dashboard.post(path, **data)
        assert r.status_code == 303, r.text
        assert "msg=" in r.headers["location"], r.headers
    got = _ok(api.get("/v1/settings"))
    assert {
        k: got[k] for k in ("pay_flow", "fee_rate_bps", "fee_fixed_cents", "receipts_enabled")
    } == {
        "pay_flow": "iframe",
        "fee_rate_bps": 350,
        "fee_fixed_cents": 25,
        "receipts_enabled": True,
    }
    staff = f"staff:{STAFF_EMAIL}"
    assert [(a[0], a[1]) for a in _audit(ctx, merchant.id)] == [
        (actor, "settings.pay_flow"),
        (actor, "settings.fee_rate"),
        (actor, "settings.receipts"),
        (staff, "settings.pay_flow"),
        (staff, "settings.fee_rate"),
        (staff, "settings.receipts"),
    ]
    # saving the dashboard's forms unchanged writes no audit row now either
    assert dashboard.post("/dashboard/settings", pay_flow="iframe").status_code == 303
    again = dashboard.post("/dashboard/settings/fees", rate_percent="3.50", fixed="0.25")
    assert "msg=" in again.headers["location"]
    assert len(_audit(ctx, merchant.id)) == 6


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"rate_percent": "25", "fixed": "0"}, "fee_rate_bps"),
        ({"rate_percent": "1", "fixed": "-1"}, "fee_fixed_cents"),
        ({"rate_percent": "1", "fixed": "10.01"}, "fee_fixed_cents"),
        ({"rate_percent": "NaN", "fixed": "0"}, "must be numbers"),
        ({"rate_percent": "Infinity", "fixed": "0"}, "must be numbers"),
        ({"rate_percent": "two", "fixed": "0"}, "must be numbers"),
        ({"pay_flow": "stripe"}, "pay_flow"),
    ],
)
def test_the_dashboard_refuses_what_the_api_refuses(
    api: TestClient,
    dashboard: Dashboard,
    ctx: ServiceContext,
    merchant: Merchant,
    data: dict[str, str],
    expected: str,
) -> None:
    path = "/dashboard/settings" if "pay_flow" in data else "/dashboard/settings/fees"
    r = dashboard.post(path, **data)
    assert r.status_code == 303, r.text
    assert "err=" in r.headers["location"]
    assert expected in dashboard.http.get(r.headers["location"]).text
    assert _ok(api.get("/v1/settings")) == DEFAULTS
    assert _audit(ctx, merchant.id) == []


def test_another_merchants_key_neither_sees_nor_changes_them(
    api: TestClient,
    other_api: TestClient,
    ctx: ServiceContext,
    merchant: Merchant,
    other_merchant: Merchant,
) -> None:
    mine = _ok(api.patch("/v1/settings", json={"pay_flow": "hosted_checkout", "fee_rate_bps": 290}))
    assert _ok(other_api.get("/v1/settings")) == DEFAULTS
    theirs = _ok(
        other_api.patch("/v1/settings", json={"receipts_enabled": False, "fee_rate_bps": 100})
    )
    assert theirs["pay_flow"] == "iframe"
    assert _ok(api.get("/v1/settings")) == mine
    assert [a[1] for a in _audit(ctx, merchant.id)] == ["settings.pay_flow", "settings.fee_rate"]
    assert [a[1] for a in _audit(ctx, other_merchant.id)] == [
        "settings.fee_rate",
        "settings.receipts",
    ]
    other_log = _ok_list(other_api.get("/v1/audit_log", params={"entity_id": merchant.id}))
    assert other_log == []
    anonymous = TestClient(api.app)
    assert anonymous.get("/v1/settings").status_code == 401
    resp = anonymous.patch("/v1/settings", json={"fee_rate_bps": 1})
    assert resp.status_code == 401
    assert resp.json()["error"]["field"] == "Authorization"
    assert _ok(api.get("/v1/settings")) == mine


def test_the_service_validates_for_every_caller(ctx: ServiceContext, merchant: Merchant) -> None:
    bad: list[tuple[SettingsChange, str]] = [
        (SettingsChange(pay_flow="stripe"), "pay_flow"),
        (SettingsChange(fee_rate_bps=-1), "fee_rate_bps"),
        (SettingsChange(fee_rate_bps=2001), "fee_rate_bps"),
        (SettingsChange(fee_rate_bps=True), "fee_rate_bps"),
        (SettingsChange(fee_fixed_cents=1001), "fee_fixed_cents"),
        (SettingsChange(receipts_enabled=1), "receipts_enabled"),  # type: ignore[arg-type]
    ]
    for change, field in bad:
        with pytest.raises(InvalidRequest) as caught:
            update_settings(ctx, merchant.id, change, actor="t")
        assert caught.value.field == field
    # the first bad field is named even beside good ones, and nothing is written
    with pytest.raises(InvalidRequest) as caught:
        update_settings(
            ctx,
            merchant.id,
            SettingsChange(pay_flow="hosted_checkout", fee_rate_bps=5000),
            actor="t",
        )
    assert caught.value.field == "fee_rate_bps"
    assert _stored(ctx, merchant.id) is None
    assert _audit(ctx, merchant.id) == []
    after, changed = update_settings(
        ctx, merchant.id, SettingsChange(pay_flow="hosted_checkout"), actor="t"
    )
    assert (after.pay_flow, changed) == ("hosted_checkout", ["pay_flow"])
    with ctx.sessions() as s:
        assert read_settings(s, merchant.id) == after


def test_two_first_changes_at_once_both_apply(
    ctx: ServiceContext, merchant: Merchant, db_url: str
) -> None:
    """Two first changes race to insert the settings row: the loser retries on the
    winner's row instead of failing. (SQLite runs one write transaction at a time,
    BEGIN IMMEDIATE, so the race exists on PostgreSQL only.)"""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite serializes write transactions: no insert race to lose")
    raced = threading.Event()

    @event.listens_for(ctx.sessions, "before_flush")
    def other_request_first(session: Session, *_args: Any) -> None:
        if raced.is_set():
            return
        raced.set()
        # the other first change commits its row between our read and our insert
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(MerchantWebSettings).values(
                    merchant_id=merchant.id,
                    pay_flow="hosted_checkout",
                    fee_rate_bps=0,
                    fee_fixed_cents=0,
                    receipts_enabled=True,
                    updated_at=ctx.now(),
                )
            )

    try:
        after, changed = update_settings(
            ctx, merchant.id, SettingsChange(fee_rate_bps=290), actor="t"
        )
    finally:
        event.remove(ctx.sessions, "before_flush", other_request_first)
    assert raced.is_set()
    assert (after.pay_flow, after.fee_rate_bps, changed) == (
        "hosted_checkout",
        290,
        ["fee_rate_bps"],
    )
    assert _audit(ctx, merchant.id) == [("t", "settings.fee_rate", "0bps+0c", "290bps+0c")]


def test_openapi_documents_the_bodies_and_the_error_shape(api: TestClient) -> None:
    spec = _ok(api.get("/openapi.json"))
    ops = spec["paths"]["/v1/settings"]
    assert set(ops) == {"get", "patch"}
    ref = "#/components/schemas/"
    for method in ("get", "patch"):
        responses = ops[method]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": ref + "SettingsOut"
        }
        assert responses["401"]["content"]["application/json"]["schema"] == {
            "$ref": ref + "ErrorOut"
        }
    assert ops["patch"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": ref + "ErrorOut"
    }
    schemas = spec["components"]["schemas"]
    patch = schemas["SettingsPatch"]
    assert patch["additionalProperties"] is False
    assert "required" not in patch
    assert patch["properties"]["pay_flow"]["enum"] == list(PAY_FLOWS)
    for name in ("fee_rate_bps", "fee_fixed_cents"):
        prop = patch["properties"][name]
        assert (prop["type"], prop["minimum"]) == ("integer", 0), prop
    assert patch["properties"]["fee_rate_bps"]["maximum"] == 2000
    assert patch["properties"]["fee_fixed_cents"]["maximum"] == 1000
    assert all("anyOf" not in p and "default" not in p for p in patch["properties"].values())
    assert set(schemas["SettingsOut"]["required"]) == set(DEFAULTS)
    error = schemas["ErrorDetailOut"]
    assert set(error["required"]) == {"type", "code", "message", "field"}
