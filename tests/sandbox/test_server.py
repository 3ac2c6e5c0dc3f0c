"""The same flows over a real 127.0.0.1 socket (uvicorn in a thread), one shared state."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer, encrypt_pan


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    sb = Sandbox(seed=11)
    with SandboxServer(sb) as srv:
        yield srv
    sb.close()


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.sandbox.state.reset()
    creds = server.credentials
    with httpx.Client(
        base_url=creds.base_url,
        headers={
            "Authorization": f"Bearer {creds.access_token}",
            "x-forwarded-for": "198.51.100.7",
        },
        timeout=10,
    ) as client:
        yield client


def tokenize(http: httpx.Client, server: SandboxServer, number: str = "4242424242424242") -> str:
    keys = http.get("/assets/keys.json").json()
    card = {
        "encrypted_pan": encrypt_pan(number, keys["TA_PUBLIC_KEY_DEV"]),
        "exp_month": "12",
        "exp_year": "2031",
        "cvv": "123",
        "first6": number[:6],
        "last4": number[-4:],
    }
    r = http.post(
        "/v1/tokens", json={"card": card}, headers={"apikey": server.credentials.api_access_key}
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["id"]
    return token


def test_full_flow_over_socket(server: SandboxServer, http: httpx.Client) -> None:
    assert http.get("/pakms/apikey").json()["apiAccessKey"] == server.credentials.api_access_key
    auth = http.post(
        "/v1/charges",
        json={
            "amount": 2500,
            "currency": "usd",
            "source": tokenize(http, server),
            "capture": False,
        },
        headers={"idempotency-key": "sock-1"},
    ).json()
    cap = http.post(f"/v1/charges/{auth['id']}/capture", json={"amount": 2000}).json()
    assert cap["amount_captured"] == 2000
    refund = http.post("/v1/refunds", json={"charge": auth["id"], "amount": 500}).json()
    assert refund["amount"] == 500
    assert http.get(f"/v1/charges/{auth['id']}").json()["amount_refunded"] == 500
    cust = http.post(
        "/v1/customers", json={"email": "s@example.com", "source": tokenize(http, server)}
    ).json()
    order = http.post("/v1/orders", json={"currency": "usd", "items": [{"amount": 1000}]}).json()
    paid = http.post(f"/v1/orders/{order['id']}/pay", json={"customer": cust["id"]}).json()
    assert paid["status"] == "paid"
    declined = http.post(
        "/v1/charges",
        json={
            "amount": 100,
            "currency": "usd",
            "source": tokenize(http, server, "4000000000000069"),
        },
    )
    assert declined.status_code == 402
    assert declined.json()["error"]["decline_code"] == "expired_card"
    # the in-process transport sees the same state
    with server.sandbox.client() as local:
        assert local.get(f"/v1/charges/{auth['id']}").json()["amount_refunded"] == 500


def test_cors_preflight_over_socket(http: httpx.Client) -> None:
    r = http.options(
        "/v1/tokens",
        headers={"origin": "http://localhost:3000", "access-control-request-method": "POST"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_concurrent_same_key_over_socket(server: SandboxServer, http: httpx.Client) -> None:
    tokens = [tokenize(http, server) for _ in range(1)]
    body = {"amount": 700, "currency": "usd", "source": tokens[0]}
    results: list[int] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        with httpx.Client(base_url=server.base_url, headers=dict(http.headers), timeout=10) as c:
            barrier.wait()
            r = c.post("/v1/charges", json=body, headers={"idempotency-key": "race-1"})
            results.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(server.sandbox.state.ecommerce.charges) == 1
    assert set(results) <= {200, 409}
    assert 200 in results


def test_rate_limits_over_socket(server: SandboxServer, http: httpx.Client) -> None:
    http.post("/_sandbox/rate_limits", json={"enabled": True})
    try:
        statuses = [http.get("/pakms/apikey").status_code for _ in range(20)]
        assert 429 in statuses
        assert statuses[0] == 200
    finally:
        http.post("/_sandbox/rate_limits", json={"enabled": False})


def test_idle_connections_are_kept_longer_than_clients_keep_theirs(
    server: SandboxServer,
) -> None:
    """uvicorn's default (5 s) equals httpx's pool expiry: a client could reuse a
    connection just as the server closes it. The sandbox keeps idle ones longer."""
    import uvicorn

    from cloverpay.sandbox import KEEPALIVE_S

    assert server._config.timeout_keep_alive == KEEPALIVE_S
    assert uvicorn.Config(app=None).timeout_keep_alive < KEEPALIVE_S
    assert httpx.Limits(max_connections=None).keepalive_expiry < KEEPALIVE_S  # type: ignore[operator]
