"""Schemathesis against the service's own OpenAPI (``/openapi.json``), in process (ASGI),
on a real SQLite database with an in-process sandbox behind the Clover gateway.

Every operation gets valid and invalid requests (positive and negative generation), sent
with a real API key. Pass criterion: no 5xx, every 4xx is the one error shape
``{"error": {"type", "code", "message", "field"}}``, every status is documented for its
operation, and every body, success or error, matches the schema documented for its
status (times included: RFC 3339 ``date-time`` with their offset). Examples
per operation are bounded (``CLOVERPAY_FUZZ_EXAMPLES``, default 25) so the run stays well
under a minute; Hypothesis prints the failing request and ``@seed`` to replay it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from cryptography.fernet import Fernet  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from cloverpay.sandbox import Sandbox  # noqa: E402
from cloverpay.service.api import create_app  # noqa: E402
from cloverpay.service.core.config import Settings  # noqa: E402
from cloverpay.service.services import ServiceContext  # noqa: E402
from cloverpay.service.services.customers import create_customer  # noqa: E402
from cloverpay.service.services.merchants import connect_merchant, create_api_key  # noqa: E402

from .conftest import create_schema, open_test_invoice  # noqa: E402

pytestmark = pytest.mark.fuzz

#: Every response: its status is documented, its content type and body are the schema
#: documented for that status (a success's model, an error's one shape).
CONFORMANCE = [
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
EXAMPLES = int(os.environ.get("CLOVERPAY_FUZZ_EXAMPLES", "25"))
ERROR_KEYS = {"type", "code", "message", "field"}


@pytest.fixture
def fuzz_app(tmp_path: Path) -> Iterator[tuple[FastAPI, str]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/fuzz.db",
        env="test",
        secret_key=Fernet.generate_key().decode(),
    )
    create_schema(settings.database_url)
    with Sandbox(seed=5) as sandbox:
        ctx = ServiceContext.build(
            settings, transport=sandbox.sync_transport(), retry=0, rate_limit=False
        )
        creds = sandbox.credentials
        merchant = connect_merchant(
            ctx,
            name="Fuzz Electric",
            clover_merchant_id=creds.merchant_id,
            access_token=creds.access_token,
            pakms_key=creds.api_access_key,
            clover_base_url=creds.base_url,
        )
        # A few real rows, so that generated ids sometimes meet objects that exist.
        create_customer(ctx, merchant.id, name="Ana", email="ana@example.com", actor="test")
        open_test_invoice(ctx, merchant)
        key = create_api_key(ctx, merchant.id)
        try:
            yield create_app(context=ctx), key.secret
        finally:
            ctx.close()


def _check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.text)
    except ValueError:
        pytest.fail(f"{where}: error body is not JSON: {response.text[:200]!r}")
    assert isinstance(body, dict), where
    assert set(body) == {"error"}, f"{where}: {body}"
    error = body["error"]
    assert set(error) >= ERROR_KEYS, f"{where}: {error}"
    for name in ("type", "code", "message"):
        assert isinstance(error[name], str), f"{where}: {name} of {error}"
        assert error[name], f"{where}: empty {name}"
    assert error["field"] is None or isinstance(error["field"], str), where


def test_openapi_no_5xx_and_one_error_shape(fuzz_app: tuple[FastAPI, str]) -> None:
    app, api_key = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    auth = {"Authorization": f"Bearer {api_key}"}
    calls = 0
    statuses: Counter[int] = Counter()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(headers=auth)
                statuses[response.status_code] += 1
                _check(case, response)
                # the status is documented for the operation and the body is the
                # schema documented for that status (a model, or the one error shape)
                case.validate_response(response, checks=CONFORMANCE)

            try:
                run()
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (e.g. no parameters).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls >= len(operations)
    # Not vacuous: requests got through, and errors of several kinds were checked.
    assert sum(n for code, n in statuses.items() if code < 300) >= len(operations)
    assert {404, 422} <= set(statuses), statuses
    print(f"{calls} requests over {len(operations)} operations: {dict(sorted(statuses.items()))}")


def test_found_by_fuzzing_huge_before_id_is_a_422(fuzz_app: tuple[FastAPI, str]) -> None:
    """An id beyond 64 bits used to reach SQLite and fail there (500)."""
    from fastapi.testclient import TestClient

    app, api_key = fuzz_app
    with TestClient(app) as client:
        r = client.get(
            "/v1/audit_log",
            params={"before_id": str(2**70)},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "before_id"


def test_settings_fuzzed_change_only_what_they_say(fuzz_app: tuple[FastAPI, str]) -> None:
    """``/v1/settings`` under valid and invalid PATCHes: a refused one leaves the stored
    settings as they were, an accepted one stores exactly what it answers, and the
    audit log has one row per setting that really changed (none for a no-op)."""
    from sqlalchemy import func, select

    from cloverpay.service.db import AuditLog, Merchant
    from cloverpay.service.services.merchant_settings import read_settings

    app, api_key = fuzz_app
    ctx: ServiceContext = app.state.ctx
    with ctx.sessions() as s:
        merchant_id = s.scalars(select(Merchant.id)).one()
    fields = ("pay_flow", "fee_rate_bps", "fee_fixed_cents", "receipts_enabled")

    def stored() -> dict[str, Any]:
        with ctx.sessions() as s:
            current = read_settings(s, merchant_id)
        return {name: getattr(current, name) for name in fields}

    def audit_rows() -> int:
        with ctx.sessions() as s:
            return (
                s.scalar(
                    select(func.count())
                    .select_from(AuditLog)
                    .where(AuditLog.merchant_id == merchant_id, AuditLog.action.like("settings.%"))
                )
                or 0
            )

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path == "/v1/settings"
    ]
    assert sorted(op.method.upper() for op in operations) == ["GET", "PATCH"]
    auth = {"Authorization": f"Bearer {api_key}"}
    expected = {"state": stored(), "audit": audit_rows()}
    accepted: Counter[str] = Counter()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES * 2,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                response = case.call(headers=auth)
                _check(case, response)
                before = expected["state"]
                if case.method.upper() == "PATCH" and response.status_code == 200:
                    after = {k: response.json()[k] for k in fields}
                    groups = {
                        "pay_flow": before["pay_flow"] != after["pay_flow"],
                        "fee": (before["fee_rate_bps"], before["fee_fixed_cents"])
                        != (after["fee_rate_bps"], after["fee_fixed_cents"]),
                        "receipts": before["receipts_enabled"] != after["receipts_enabled"],
                    }
                    expected["state"] = after
                    expected["audit"] += sum(groups.values())
                    accepted["changed" if any(groups.values()) else "no-op"] += 1
                elif case.method.upper() == "PATCH":
                    accepted[f"refused {response.status_code}"] += 1
                assert stored() == expected["state"], f"{case.method} {case.body!r}"
                assert audit_rows() == expected["audit"], f"{case.method} {case.body!r}"

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label
    # not vacuous: changes, no-ops and refusals were all seen
    assert min(accepted["changed"], accepted["no-op"], accepted["refused 422"]) > 0, accepted
    print(f"/v1/settings PATCHes: {dict(accepted)}")
