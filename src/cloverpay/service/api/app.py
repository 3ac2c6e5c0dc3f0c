"""The FastAPI app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from cloverpay.service.api.errors import install_error_handlers
from cloverpay.service.api.idempotency import IdempotencyMiddleware
from cloverpay.service.api.routes import (
    audit,
    authorizations,
    customers,
    event_settings,
    invoices,
    oauth,
    payments,
    subscriptions,
    terminals,
)
from cloverpay.service.api.routes import settings as merchant_settings
from cloverpay.service.api.schemas import error_responses
from cloverpay.service.core.config import Settings, get_settings
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.web import install_web
from cloverpay.service.webhooks import install_webhooks

__all__ = ["create_app"]

#: The errors every /v1 route documents (a route adds its own: 400, 402, 404, 409, 502).
#: The 422 stands in for FastAPI's validation-error schema, which the API never sends;
#: the schema drops it from the few routes that take no parameter and no body
#: (:func:`_openapi_without_impossible_422`: nothing there can be refused).
V1_ERRORS = error_responses(401, 422)


def create_app(
    settings: Settings | None = None, *, context: ServiceContext | None = None
) -> FastAPI:
    """The service's API. ``context`` replaces the one built from ``settings`` (tests
    pass one whose Clover gateway reaches an in-process sandbox)."""
    settings = settings or (context.settings if context else get_settings())
    ctx = context or ServiceContext.build(settings)
    owned = context is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The threads sync routes run on (this event loop's limiter): see the setting.
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        yield
        if owned:  # a context passed in belongs to the caller
            ctx.close()

    app = FastAPI(
        lifespan=lifespan,
        title="cloverpay service",
        version="0.1.0",
        description=(
            "Invoices, payments and refunds through Clover. Authenticate with "
            "`Authorization: Bearer <API key>`. Every POST honours `Idempotency-Key`. "
            'Errors: `{"error": {"type", "code", "message", "field"}}`.'
        ),
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for module in (
        customers,
        invoices,
        payments,
        terminals,
        authorizations,
        audit,
        subscriptions,
        event_settings,
        merchant_settings,
    ):
        # Every /v1 route authenticates (401) and answers a refused parameter or body
        # with a 422, both in the one error shape; its own errors are on the route.
        app.include_router(module.router, responses=V1_ERRORS)
    app.include_router(oauth.router)  # browser pages, not in the schema
    app.add_middleware(IdempotencyMiddleware, ctx=ctx)
    install_web(app)  # pay pages and the staff dashboard (cloverpay.service.web)
    install_webhooks(app)  # Clover's webhooks into the inbox (cloverpay.service.webhooks)

    _openapi_without_impossible_422(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _openapi_without_impossible_422(app: FastAPI) -> None:
    """The schema as FastAPI builds it, without the 422 of an operation that has no
    parameter and no body (built once, as FastAPI caches it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if "parameters" not in operation and "requestBody" not in operation:
                        operation.get("responses", {}).pop("422", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
