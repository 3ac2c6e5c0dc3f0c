"""Helpers for route handlers: parsed bodies, JSON responses, commits, list pages."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._errors import SandboxError, invalid_param, resource_missing
from ._index import ListIndex

__all__ = [
    "json_body",
    "json_response",
    "list_envelope",
    "mark_committed",
    "page_from_query",
]


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body); 400 for other JSON values."""
    st = request.scope.get("state", {})
    parsed = st.get("cloverpay.json")
    if parsed is None:
        if "cloverpay.body" in st and st["cloverpay.body"].strip():
            raise SandboxError(
                400, "invalid_request_error", "invalid_request", "Request body must be JSON"
            )
        return {}
    if not isinstance(parsed, dict):
        raise SandboxError(
            400,
            "invalid_request_error",
            "invalid_request",
            f"Request body must be a JSON object, not {type(parsed).__name__}",
        )
    return parsed


def mark_committed(request: Request) -> None:
    """Tell the idempotency layer this request changed state (store its response even
    if it is an error, e.g. a declined charge)."""
    request.scope.setdefault("state", {})["cloverpay.committed"] = True


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return _JSON(payload, status_code=status, headers=headers)


def _int_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid_param(name, "must be an integer", "parameter_invalid_integer") from None


def _created_bound(request: Request, name: str) -> int | None:
    """``created.gt`` etc.: epoch ms or ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lstrip("-").isdigit():
        return int(raw)
    from datetime import UTC, datetime

    try:
        dt = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise invalid_param(name, "must be epoch milliseconds or 'yyyy-MM-dd HH:mm:ss'") from None
    return int(dt.timestamp() * 1000)


def page_from_query(request: Request, index: ListIndex | None, kind: str) -> tuple[list[str], bool]:
    """Apply ``limit``/``starting_after``/``ending_before``/``created.*`` to ``index``."""
    limit = _int_query(request, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid_param("limit", "must be between 1 and 100")
    q = request.query_params
    after_id, before_id = q.get("starting_after"), q.get("ending_before")
    bounds = {k: _created_bound(request, f"created.{k}") for k in ("gt", "gte", "lt", "lte")}
    if index is None:
        index = ListIndex()
    after = before = None
    if after_id:
        after = index.position(after_id)
        if after is None:
            raise resource_missing(kind, after_id, "starting_after")
    if before_id:
        before = index.position(before_id)
        if before is None:
            raise resource_missing(kind, before_id, "ending_before")
    page = index.page(
        limit,
        starting_after=after,
        ending_before=before,
        created_gt=bounds["gt"],
        created_gte=bounds["gte"],
        created_lt=bounds["lt"],
        created_lte=bounds["lte"],
    )
    return page.ids, page.has_more


def list_envelope(url: str, data: list[Any], has_more: bool) -> dict[str, Any]:
    """Clover's list envelope ``{"object": "list", "url", "has_more", "data"}``."""
    return {"object": "list", "url": url, "has_more": has_more, "data": data}
