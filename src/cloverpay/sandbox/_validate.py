"""Field validation for request bodies: every error names the field (``param``).

Unknown fields are tolerated everywhere (Clover adds fields over time); wrong types,
missing required fields and out-of-range values are 400 ``invalid_request_error``.
Booleans are never accepted where an integer is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ._errors import SandboxError, email_invalid, invalid_param, missing_param

__all__ = [
    "MAX_AMOUNT",
    "opt_bool",
    "opt_dict",
    "opt_email",
    "opt_int",
    "opt_metadata",
    "opt_str",
    "req_currency",
    "req_int",
    "req_str",
    "valid_email",
]

#: Largest amount Clover accepts, in cents ($999,999.99).
MAX_AMOUNT = 99_999_999
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def opt_int(
    body: dict[str, Any],
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    param: str | None = None,
    too_large: Callable[[], SandboxError] | None = None,
    invalid: Callable[[], SandboxError] | None = None,
) -> int | None:
    """``too_large`` / ``invalid`` build the error to raise instead of the generic one
    (factories, so nothing is allocated on the happy path)."""
    param = param or name
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise (
            invalid()
            if invalid
            else invalid_param(param, "must be an integer", "parameter_invalid_integer")
        )
    if minimum is not None and value < minimum:
        raise invalid() if invalid else invalid_param(param, f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise too_large() if too_large else invalid_param(param, f"must be <= {maximum}")
    return int(value)


def req_int(body: dict[str, Any], name: str, **kw: Any) -> int:
    value = opt_int(body, name, **kw)
    if value is None:
        raise missing_param(kw.get("param") or name)
    return value


def opt_str(
    body: dict[str, Any],
    name: str,
    *,
    max_len: int | None = None,
    choices: tuple[str, ...] | None = None,
    param: str | None = None,
    pattern: re.Pattern[str] | None = None,
    pattern_help: str = "has an invalid format",
) -> str | None:
    param = param or name
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_param(param, "must be a string", "parameter_invalid_string")
    if max_len is not None and len(value) > max_len:
        raise invalid_param(param, f"must be at most {max_len} characters")
    if choices is not None and value not in choices:
        raise invalid_param(param, f"must be one of {', '.join(choices)}")
    if pattern is not None and not pattern.match(value):
        raise invalid_param(param, pattern_help)
    return value


def req_str(body: dict[str, Any], name: str, **kw: Any) -> str:
    value = opt_str(body, name, **kw)
    if value is None:
        raise missing_param(kw.get("param") or name)
    if not value.strip():
        raise invalid_param(
            kw.get("param") or name, "must not be empty", "parameter_invalid_string_empty"
        )
    return value


def opt_bool(body: dict[str, Any], name: str, *, param: str | None = None) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid_param(param or name, "must be true or false")
    return value


def opt_dict(body: dict[str, Any], name: str, *, param: str | None = None) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_param(param or name, "must be an object")
    return value


def opt_metadata(body: dict[str, Any], name: str = "metadata") -> dict[str, Any] | None:
    meta = opt_dict(body, name)
    if meta is None:
        return None
    for key, value in meta.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise invalid_param(f"{name}.{key}", "must be a string, number or boolean")
        if isinstance(value, str) and len(value) > 500:
            raise invalid_param(f"{name}.{key}", "must be at most 500 characters")
    return dict(meta)


def valid_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL.match(value))


def opt_email(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not valid_email(value):
        raise email_invalid(name)
    return value


def req_currency(body: dict[str, Any], name: str = "currency") -> str:
    """Three ISO letters; returned lower-case (Clover takes lower-case on input)."""
    value = body.get(name)
    if value is None:
        raise missing_param(name)
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise invalid_param(name, "must be a three-letter ISO currency code such as 'usd'")
    return value.lower()
