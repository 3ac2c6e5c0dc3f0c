"""Every error leaves the API in one shape::

    {"error": {"type": "...", "code": "...", "message": "...", "field": "..." | null}}

including FastAPI's validation errors (``field`` is the dotted path in the body or
the name of the query/path parameter) and unknown routes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloverpay.service.domain import InvalidTransition
from cloverpay.service.errors import ServiceError
from cloverpay.service.services.clover_calls import RECONNECT_REQUIRED

__all__ = ["error_body", "install_error_handlers", "reconnect_required"]

log = logging.getLogger("cloverpay.service")

_HTTP_TYPES = {401: "authentication_error", 404: "not_found_error", 409: "conflict_error"}


def error_body(
    type_: str, code: str, message: str, field: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"type": type_, "code": code, "message": message, "field": field, **extra}}


def reconnect_required(attempt: dict[str, Any], message: str | None) -> JSONResponse | None:
    """The answer for a failed attempt that was never sent because the merchant's Clover
    connection must be renewed: 409 ``conflict_error`` / ``merchant_reconnect_required``
    (field ``merchant``) with the attempt; None for any other attempt."""
    if attempt.get("failure_code") != RECONNECT_REQUIRED:
        return None
    return JSONResponse(
        error_body(
            "conflict_error",
            RECONNECT_REQUIRED,
            message or "the merchant must connect to Clover again",
            "merchant",
            attempt=attempt,
        ),
        status_code=409,
    )


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or None


async def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse(exc.to_json(), status_code=exc.status)


async def _invalid_transition(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        error_body("conflict_error", "invalid_state", str(exc), None), status_code=409
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    field = _field(tuple(first.get("loc", ())))
    missing = first.get("type") == "missing"
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    details = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg")} for e in errors]
    return JSONResponse(
        error_body(
            "invalid_request_error",
            "parameter_missing" if missing else "parameter_invalid",
            message,
            field,
            details=details,
        ),
        status_code=422,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(type_, code, str(exc.detail), None),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("api_error", "internal_error", "internal error; nothing was lost", None),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(InvalidTransition, _invalid_transition)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
