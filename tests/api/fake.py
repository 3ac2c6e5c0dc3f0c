"""A scripted stand-in for Clover behind ``httpx.MockTransport`` (unit tests only).

Responses are queued per ``(METHOD, path)``; every request is recorded. The same
paths are exercised against the real sandbox in the integration tests.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import httpx

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeClover:
    def __init__(self) -> None:
        self.queues: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.defaults: dict[tuple[str, str], Reply] = {}
        self.requests: list[httpx.Request] = []

    def add(self, method: str, path: str, *replies: Reply) -> None:
        self.queues[(method, path)].extend(replies)

    def always(self, method: str, path: str, reply: Reply) -> None:
        self.defaults[(method, path)] = reply

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        key = (request.method, request.url.path)
        queue = self.queues.get(key)
        if queue:
            reply = queue.popleft()
        elif key in self.defaults:
            reply = self.defaults[key]
        else:
            return json_response(404, {"message": f"no route {key}"})
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    async def ahandler(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def async_transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.ahandler)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def ecom_error(status: int, code: str, message: str = "error", **extra: Any) -> httpx.Response:
    return json_response(status, {"error": {"code": code, "message": message, **extra}})


CHARGE = {
    "id": "2G1RQC0VTH7WY",
    "object": "charge",
    "amount": 1100,
    "amount_refunded": 0,
    "currency": "usd",
    "created": 1623551758243,
    "captured": True,
    "paid": True,
    "refunded": False,
    "status": "succeeded",
    "order": "3TQ8KJXBQMJ7W",
    "ref_num": "116400500490",
    "auth_code": "OK4447",
    "outcome": {"network_status": "approved_by_network", "type": "authorized"},
    "source": {
        "id": "clv_1TSTS89P1vANcEi3DXaQEck7",
        "brand": "VISA",
        "exp_month": "12",
        "exp_year": "2030",
        "first6": "424242",
        "last4": "4242",
    },
}
