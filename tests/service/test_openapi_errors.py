"""The OpenAPI documents the errors the API sends, each in the one error shape
(``ErrorOut``), and never FastAPI's own validation-error schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from cloverpay.service.api import create_app
from cloverpay.service.core.config import Settings

ERROR_OUT = {"$ref": "#/components/schemas/ErrorOut"}
#: The routes that move money answer a refusal by Clover with a 402 and the attempt.
MONEY_ROUTES = {
    "/v1/invoices/{invoice_id}/pay",
    "/v1/payments/{payment_id}/refunds",
    "/v1/payments/{payment_id}/void",
    "/v1/invoices/{invoice_id}/authorize",
    "/v1/authorizations/{authorization_id}/capture",
    "/v1/authorizations/{authorization_id}/void",
}


@pytest.fixture
def spec(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/openapi.db",
        env="test",
        secret_key=Fernet.generate_key().decode(),
    )
    app = create_app(settings)
    try:
        yield app.openapi()
    finally:
        app.state.ctx.close()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    ]


def test_no_fastapi_validation_error_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    error = schemas["ErrorDetailOut"]
    assert set(error["required"]) == {"type", "code", "message", "field"}


def test_every_v1_error_response_is_the_one_shape(spec: dict[str, Any]) -> None:
    operations = _operations(spec)
    assert len(operations) >= 40
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        errors = {status for status in responses if int(status) >= 400}
        for status in errors:
            assert responses[status]["content"]["application/json"]["schema"] == ERROR_OUT, (
                f"{where} {status}"
            )
            assert responses[status]["description"], f"{where} {status}"
        # every route authenticates; a refused parameter or body is a 422, listed only
        # where there is a parameter or a body to refuse
        assert "401" in errors, where
        refusable = "parameters" in op or "requestBody" in op
        assert ("422" in errors) == refusable, where
        if "{" in path:
            assert "404" in errors, where
        if method == "post":  # Idempotency-Key: empty or too long (400), reused (409)
            assert {"400", "409"} <= errors, where
        if method == "patch":  # a body that cannot be read
            assert "400" in errors, where
        if path in MONEY_ROUTES:
            assert {"402", "409"} <= errors, where


def test_clover_failures_are_documented_where_clover_is_called(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for path in (
        "/v1/customers/{customer_id}/cards",
        "/v1/invoices/{invoice_id}/open",
        "/v1/subscriptions/{subscription_id}/cancel",
    ):
        assert paths[path]["post"]["responses"]["502"]["content"]["application/json"] == {
            "schema": ERROR_OUT
        }, path
    assert "402" in paths["/v1/customers/{customer_id}/cards"]["post"]["responses"]
