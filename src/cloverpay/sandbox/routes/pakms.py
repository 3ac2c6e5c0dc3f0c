"""``GET /pakms/apikey`` (spec §4): the merchant's PAKMS key (apiAccessKey) for the
tokenizer and sdk.js. Bearer auth. Times in epoch milliseconds."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._auth import require_bearer
from .._http import json_response

__all__ = ["routes"]


async def apikey(request: Request) -> Response:
    m = require_bearer(request)
    return json_response(
        {
            "apiAccessKey": m.api_access_key,
            "merchantUuid": m.merchant_id,
            "developerAppUuid": m.app_id,
            "active": True,
            "createdTime": m.created_ms,
            "modifiedTime": m.created_ms,
        }
    )


routes: list[BaseRoute] = [Route("/pakms/apikey", apikey, methods=["GET"])]
