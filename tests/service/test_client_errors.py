"""How the service reads the client's refusals: nothing sent means nothing moved."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from cloverpay.api import ConfigurationError
from cloverpay.service.api.deps import get_client_ip
from cloverpay.service.services.clover_calls import _from_error


def test_a_refusal_before_sending_is_rejected_not_unknown() -> None:
    outcome = _from_error(ConfigurationError("client_ip must be an IP address", param="client_ip"))
    assert outcome.status == "rejected"
    assert outcome.field == "client_ip"


def _request(headers: dict[str, str], client: tuple[str, int] | None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "client": client})


@pytest.mark.parametrize(
    ("headers", "client", "expected"),
    [
        ({"x-forwarded-for": "203.0.113.9, 10.0.0.1"}, ("127.0.0.1", 1), "203.0.113.9"),
        ({}, ("198.51.100.4", 1), "198.51.100.4"),
        ({}, ("testclient", 50000), None),
        ({"x-forwarded-for": "not-an-ip"}, None, None),
        ({}, None, None),
    ],
)
def test_client_ip_is_an_ip_address_or_none(
    headers: dict[str, str], client: tuple[str, int] | None, expected: str | None
) -> None:
    assert get_client_ip(_request(headers, client)) == expected
