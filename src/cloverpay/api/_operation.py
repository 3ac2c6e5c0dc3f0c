"""What one API call is, independent of sync/async: :class:`Operation` and :class:`ListSpec`.

Resource methods only build these (see ``_ops_*.py``); the sync and async transports
run them. Validation of arguments happens while building, so bad input raises
:class:`~cloverpay.api.ConfigurationError` naming the field before anything is sent.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

from pydantic_core import to_json

from cloverpay.api._environments import Service
from cloverpay.api._errors import ConfigurationError
from cloverpay.api._idempotency import new_idempotency_key
from cloverpay.api._models_base import DeletedObject, ListObject
from cloverpay.api._retry import REPLAY_SAFE_METHODS

__all__ = ["ListSpec", "Operation"]

T = TypeVar("T")
Paging = Literal["cursor", "offset", "single"]

_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


@dataclasses.dataclass(slots=True)
class Operation(Generic[T]):
    """One HTTP request to Clover and how to read its answer."""

    method: str
    service: Service
    path: str
    parse: Callable[[bytes], T]
    body: bytes | None = None
    params: Mapping[str, str] | list[tuple[str, str | int | float | bool | None]] | None = None
    idempotency_key: str | None = None
    moves_money: bool = False
    client_ip: str | None = None
    needs_client_ip: bool = False
    send_api_key: bool = False
    send_merchant_id: bool = False
    replay_safe_override: bool | None = None

    @property
    def replay_safe(self) -> bool:
        """May this request be sent again without risk of acting twice?"""
        if self.replay_safe_override is not None:
            return self.replay_safe_override
        return self.idempotency_key is not None or self.method in REPLAY_SAFE_METHODS


@dataclasses.dataclass(slots=True)
class ListSpec(Generic[T]):
    """A list endpoint: how to request one page, and where the next page starts.

    ``cursor`` paging follows ``starting_after`` (Ecommerce), ``offset`` paging
    follows ``offset``/``limit`` (Platform v3), ``single`` is one unpaged answer.
    When Ecommerce omits ``has_more``, a full page (``limit`` items, Clover's
    default 10) is taken to mean there may be more [G].
    """

    make: Callable[[dict[str, str]], Operation[ListObject[T]]]
    params: dict[str, str]
    paging: Paging = "cursor"
    default_limit: int = 10

    def next_params(self, params: dict[str, str], page: ListObject[T]) -> dict[str, str] | None:
        items = page.data
        if not items or self.paging == "single":
            return None
        limit = int(params.get("limit", self.default_limit))
        if self.paging == "offset":
            if len(items) < limit:
                return None
            return {**params, "offset": str(int(params.get("offset", "0")) + len(items))}
        if page.has_more is False or (page.has_more is None and len(items) < limit):
            return None
        last_id = getattr(items[-1], "id", None)
        if not last_id or last_id == params.get("starting_after"):
            return None
        nxt = {k: v for k, v in params.items() if k != "ending_before"}
        nxt["starting_after"] = str(last_id)
        return nxt


# ---------------------------------------------------------------- building helpers


def path_id(name: str, value: object) -> str:
    """Validate an id that goes into a URL path."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ConfigurationError(
            f"{name} must be a non-empty Clover id (letters, digits, '-', '_', '.', ':'), "
            f"got {value!r}",
            param=name,
        )
    return value


def json_body(params: Mapping[str, Any]) -> bytes:
    """Serialise a request body, dropping parameters set to None."""
    return to_json({k: v for k, v in params.items() if v is not None})


def check_amount(params: Mapping[str, Any], name: str, *, required: bool) -> None:
    if name not in params or params[name] is None:
        if required:
            raise ConfigurationError(f"{name} is required (integer cents)", param=name)
        return
    value = params[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(
            f"{name} must be a non-negative integer number of cents, got {value!r}", param=name
        )


def check_str(params: Mapping[str, Any], name: str, *, required: bool) -> None:
    value = params.get(name)
    if value is None:
        if required:
            raise ConfigurationError(f"{name} is required", param=name)
        return
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string, got {value!r}", param=name)


def normalise_currency(params: dict[str, Any], *, required: bool) -> None:
    value = params.get("currency")
    if value is None:
        if required:
            raise ConfigurationError(
                "currency is required (ISO 4217, e.g. 'usd')", param="currency"
            )
        return
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise ConfigurationError(
            f"currency must be a 3-letter ISO code, got {value!r}", param="currency"
        )
    params["currency"] = value.lower()


def query(params: Mapping[str, Any], renames: Mapping[str, str] | None = None) -> dict[str, str]:
    """Query parameters as strings (``created_gt`` -> ``created.gt``, bools lower-case)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        name = renames.get(key, key) if renames else key
        if name.startswith("created_"):
            name = "created." + name[8:]
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    if "limit" in out:
        try:
            limit = int(out["limit"])
        except ValueError:
            limit = 0
        if limit < 1:
            raise ConfigurationError(
                f"limit must be a positive integer, got {out['limit']!r}", param="limit"
            )
    return out


def money_key(idempotency_key: str | None) -> str:
    """The caller's key, or a fresh one for this logical call."""
    if idempotency_key is None:
        return new_idempotency_key()
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > 255:
        raise ConfigurationError(
            "idempotency_key must be a non-empty string of at most 255 characters",
            param="idempotency_key",
        )
    return idempotency_key


def camelize(value: Any) -> Any:
    """snake_case keys to camelCase, recursively (Recurring / Hosted Checkout bodies)."""
    if isinstance(value, dict):
        return {_camel(k): camelize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_deleted(content: bytes) -> DeletedObject:
    """A delete's answer; an empty body (HTTP 204) means it worked."""
    if not content.strip():
        return DeletedObject(deleted=True)
    return DeletedObject.model_validate_json(content)


def client_ip(value: str | None) -> str | None:
    """Validate an ``x-forwarded-for`` value: one IP address or a comma-separated chain."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else None
    try:
        if not parts:
            raise ValueError
        for part in parts:
            ipaddress.ip_address(part.strip())
    except ValueError:
        raise ConfigurationError(
            f"client_ip must be an IP address (the payer's), got {value!r}", param="client_ip"
        ) from None
    return value
