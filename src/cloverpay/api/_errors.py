"""Exceptions raised by the Clover client.

The tree::

    CloverError                      every error raised by cloverpay.api
    ├── ConfigurationError           bad client set-up or bad call arguments (also ValueError);
    │                                nothing was sent
    ├── APIError                     Clover answered with an error status
    │   ├── CardDeclinedError        the card was refused (decline, bad card details)  402/400
    │   ├── InvalidRequestError      the request was wrong (param names the field)     400/422
    │   ├── AuthenticationError      bad or expired token / api key                    401
    │   ├── PermissionDeniedError    the token lacks a permission                      403
    │   ├── NotFoundError            unknown id                                        404
    │   ├── ConflictError            the request conflicts with current state          409
    │   │   └── IdempotencyError     idempotency key reused / still in flight
    │   ├── RateLimitError           throttled (retry_after in seconds, if given)      429
    │   ├── ServerError              Clover failed                                     5xx
    │   └── MalformedResponseError   the answer could not be read as the expected JSON
    └── APIConnectionError           no usable answer from Clover
        └── OutcomeUnknownError      the request was sent and no usable answer came back:
                                     it may have taken effect. Retry with the same
                                     idempotency_key, or look it up.

:class:`OutcomeUnknownError` is what a request that moves money (charge, capture,
refund, order pay/returns) raises whenever the client cannot tell whether it happened:
a timeout or dropped connection after sending, a 5xx once its retries ran out, a
2xx whose body cannot be read, or any non-definitive failure (connection refused,
409, 429) of a retry after an earlier attempt may have acted. Only a definitive answer
from Clover (a decline, another 4xx) means it did not happen. The error it replaces
(e.g. a 5xx :class:`ServerError`) is its ``__cause__``.

Every error carries ``http_status``, Clover's error ``code``, a ``message``, the
``request_id`` and, where the request had one, the ``idempotency_key``. Messages are
redacted (no tokens, keys or card numbers).

The class of an :class:`APIError` is chosen from Clover's error ``code`` first and the
HTTP status second: a decline arrives as 402 or as 400 depending on the endpoint
(spec §13.1), and some declines come without an error ``type`` (spec §13.2), so the
``type`` field is kept but never used to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloverpay._redact import redact

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "CardDeclinedError",
    "CloverError",
    "ConfigurationError",
    "ConflictError",
    "IdempotencyError",
    "InvalidRequestError",
    "MalformedResponseError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]


class CloverError(Exception):
    """Base class of every error raised by :mod:`cloverpay.api`."""

    http_status: int | None = None
    code: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.http_status is not None:
            details.append(f"http_status={self.http_status}")
        if self.code:
            details.append(f"code={self.code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if self.idempotency_key:
            details.append(f"idempotency_key={self.idempotency_key}")
        if details:
            parts.append("(" + ", ".join(details) + ")")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ConfigurationError(CloverError, ValueError):
    """The client was set up or called wrongly; nothing was sent to Clover.

    ``param`` names the offending argument or field when there is one.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class APIError(CloverError):
    """Clover answered with an error status.

    Attributes besides the common ones: ``type`` (Clover's error type, informative
    only), ``param``, ``decline_code``, ``charge`` (id of the charge a decline
    created), ``body`` (the decoded error body), ``headers`` (of the response, e.g.
    ``X-RateLimit-tokenLimit`` says which limit a 429 hit) and ``method``/``url``.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
        type: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        charge: str | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            message,
            http_status=http_status,
            code=code,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
        self.type = type
        self.param = param
        self.decline_code = decline_code
        self.charge = charge
        self.body = body
        self.method = method
        self.url = url
        self.headers: Mapping[str, str] = headers if headers is not None else {}


class CardDeclinedError(APIError):
    """The card was refused: declined by the issuer or gateway, or its details are wrong.

    ``decline_code`` is the issuer's reason when Clover gives one; ``charge`` is the id of
    the failed charge when one was recorded.
    """


class InvalidRequestError(APIError):
    """The request was refused as invalid; ``param`` names the field when Clover says."""


class AuthenticationError(APIError):
    """The access token or api key is missing, wrong or expired.

    Clover's Platform REST API also answers 401 for a missing permission.
    """


class PermissionDeniedError(APIError):
    """The token is valid but not allowed to do this (HTTP 403)."""


class NotFoundError(APIError):
    """The object does not exist (HTTP 404 or code ``resource_missing``)."""


class ConflictError(APIError):
    """The request conflicts with the current state of the object (HTTP 409)."""


class IdempotencyError(ConflictError):
    """The idempotency key was reused with other parameters, or its request is in flight."""


class RateLimitError(APIError):
    """Too many requests; ``retry_after`` is Clover's hint in seconds, if it sent one."""

    retry_after: float | None = None


class ServerError(APIError):
    """Clover failed to handle the request (HTTP 5xx)."""


class MalformedResponseError(APIError):
    """Clover's answer could not be decoded into the expected object."""


class APIConnectionError(CloverError):
    """No answer came from Clover (connection refused, reset, timeout).

    When this exact class is raised, the request was either never sent or could be
    retried safely, and the retries ran out.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, idempotency_key=idempotency_key)
        self.method = method
        self.url = url
        self.attempts = attempts


class OutcomeUnknownError(APIConnectionError):
    """The request was sent and no usable answer came back: it may have taken effect.

    For a request that moves money, the money may have moved. Do not treat this as a
    failure: retry later with the same ``idempotency_key`` (Clover replays the first
    result) or look the charge up, e.g. by ``external_reference_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str | None = None,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
        http_status: int | None = None,
    ) -> None:
        super().__init__(
            message, idempotency_key=idempotency_key, method=method, url=url, attempts=attempts
        )
        self.http_status = http_status
