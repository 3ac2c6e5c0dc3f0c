"""Errors of the service, each mapped to the one JSON error shape of the API::

    {"error": {"type": ..., "code": ..., "message": ..., "field": ...}}

``type`` is one of ``invalid_request_error`` (400/422), ``authentication_error`` (401),
``not_found_error`` (404), ``conflict_error`` (409), ``card_error`` (402),
``api_error`` (500/502). ``field`` names the offending field, or is null.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AttemptUnresolvedError",
    "AuthError",
    "CardDeclined",
    "ConflictError",
    "InvalidRequest",
    "NotFound",
    "ServiceError",
    "UpstreamError",
]


class ServiceError(Exception):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }
        err.update(self.extra)
        return {"error": err}


class InvalidRequest(ServiceError):
    pass


class AuthError(ServiceError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(ServiceError):
    status = 404
    type = "not_found_error"
    code = "resource_missing"


class ConflictError(ServiceError):
    status = 409
    type = "conflict_error"
    code = "conflict"


class AttemptUnresolvedError(ConflictError):
    """A payment attempt of this object is pending or unknown (RELIABILITY.md rule 2)."""

    code = "attempt_unresolved"


class CardDeclined(ServiceError):
    status = 402
    type = "card_error"
    code = "card_declined"


class UpstreamError(ServiceError):
    status = 502
    type = "api_error"
    code = "clover_error"
