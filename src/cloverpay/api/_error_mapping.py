"""Turn an HTTP error response from Clover into the right :class:`APIError`.

Two body shapes exist (spec §13.2): Ecommerce/tokenizer errors are nested
``{"error": {"type", "code", "message", "decline_code", "charge", "param"}}``;
Platform REST, OAuth and the hosted services answer flat ``{"message": ...}``
(sometimes with ``code``, ``type`` or ``error_description``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from cloverpay.api._errors import (
    APIError,
    AuthenticationError,
    CardDeclinedError,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

__all__ = ["CARD_ERROR_CODES", "error_from_response", "parse_retry_after"]

#: Codes that mean "the card was refused" whatever the HTTP status (spec §13.3).
CARD_ERROR_CODES = frozenset(
    {
        "card_declined",
        "expired_card",
        "incorrect_cvc",
        "invalid_cvc",
        "incorrect_number",
        "invalid_number",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_card_type",
        "incorrect_zip",
        "incorrect_address",
        "charge_exceeds_source_limit",
    }
)
_NOT_FOUND_CODES = frozenset({"resource_missing", "not_found"})
_RATE_LIMIT_CODES = frozenset({"rate_limit", "rate_limit_error"})

_REQUEST_ID_HEADERS = ("x-request-id", "x-clover-request-id", "request-id", "x-trace-id")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _classify(status: int, code: str | None, type_: str | None) -> type[APIError]:
    if code in CARD_ERROR_CODES or status == 402:
        return CardDeclinedError
    if code in _RATE_LIMIT_CODES or status == 429:
        return RateLimitError
    if code in _NOT_FOUND_CODES or status == 404:
        return NotFoundError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if (code and "idempotency" in code) or type_ == "idempotency_error":
        return IdempotencyError
    if status == 409:
        return ConflictError
    if status >= 500:
        return ServerError
    if type_ == "card_error" and status < 500:
        return CardDeclinedError
    return InvalidRequestError


def error_from_response(
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    method: str | None = None,
    url: str | None = None,
    idempotency_key: str | None = None,
) -> APIError:
    """Build the :class:`APIError` subclass for an error response."""
    body: Any = None
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    code = type_ = param = decline_code = charge = None
    message: str | None = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = _str_or_none(err.get("code"))
            type_ = _str_or_none(err.get("type"))
            message = _str_or_none(err.get("message"))
            param = _str_or_none(err.get("param"))
            decline_code = _str_or_none(err.get("decline_code"))
            charge = _str_or_none(err.get("charge"))
        else:
            message = _str_or_none(body.get("message")) or _str_or_none(
                body.get("error_description")
            )
            if isinstance(err, str):
                code = err
            code = _str_or_none(body.get("code")) or code
            type_ = _str_or_none(body.get("type"))
            param = _str_or_none(body.get("param"))
    if message is None:
        text = content[:200].decode("utf-8", "replace").strip() if content else ""
        message = f"HTTP {status}" + (f": {text}" if text and body is None else "")
    request_id = None
    for name in _REQUEST_ID_HEADERS:
        request_id = headers.get(name)
        if request_id:
            break
    cls = _classify(status, code, type_)
    err_obj = cls(
        message,
        http_status=status,
        code=code,
        request_id=request_id,
        idempotency_key=idempotency_key,
        type=type_,
        param=param,
        decline_code=decline_code,
        charge=charge,
        body=body,
        method=method,
        url=url,
        headers=headers,
    )
    if isinstance(err_obj, RateLimitError):
        err_obj.retry_after = parse_retry_after(headers.get("retry-after"))
    return err_obj
