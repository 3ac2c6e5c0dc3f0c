"""The framework: auth, errors, bodies, idempotency, faults, rate limits, events."""

from __future__ import annotations

import json
import threading

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloverpay.sandbox import Sandbox, SandboxServer
from cloverpay.sandbox._http import json_body, json_response, mark_committed


def _add_counter_route(sandbox: Sandbox, gate: threading.Event | None = None) -> dict[str, int]:
    """A POST route that counts executions (stands in for a financial operation)."""
    calls = {"n": 0}

    async def count(request: Request) -> Response:
        body = json_body(request)
        calls["n"] += 1
        mark_committed(request)
        if gate is not None:
            await anyio.to_thread.run_sync(gate.wait, 5)
        if body.get("fail"):
            return json_response({"error": {"code": "card_declined"}}, status=402)
        return json_response({"n": calls["n"], "echo": body})

    sandbox.app.router.routes.append(Route("/v1/_count", count, methods=["POST"]))
    return calls


def test_bearer_required(sandbox: Sandbox) -> None:
    with httpx.Client(transport=sandbox.sync_transport(), base_url=sandbox.base_url) as c:
        r = c.get("/pakms/apikey")
        assert r.status_code == 401
        assert r.json() == {"message": "401 Unauthorized"}
        r = c.get("/pakms/apikey", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        r = c.get("/pakms/apikey", headers={"Authorization": sandbox.state.merchant.access_token})
        assert r.status_code == 401  # no "Bearer " scheme
        ok = c.get(
            "/pakms/apikey",
            headers={"authorization": f"bearer {sandbox.state.merchant.access_token}"},
        )
        assert ok.status_code == 200


def test_nested_auth_error_switch(sandbox: Sandbox, http: httpx.Client) -> None:
    http.post("/_sandbox/config", json={"ecommerce_auth_error_shape": "nested"}).raise_for_status()
    r = http.get("/pakms/apikey", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert "wrong" not in r.text


def test_pakms_shape(sandbox: Sandbox, http: httpx.Client) -> None:
    body = http.get("/pakms/apikey").json()
    m = sandbox.state.merchant
    assert body["apiAccessKey"] == m.api_access_key
    assert body["merchantUuid"] == m.merchant_id
    assert body["developerAppUuid"] == m.app_id
    assert body["active"] is True
    assert body["createdTime"] > 10**12  # milliseconds


def test_unknown_route_and_method_use_clover_shape(http: httpx.Client) -> None:
    r = http.get("/v1/definitely-not-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "resource_missing"
    r = http.delete("/pakms/apikey")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_platform_family_errors_are_flat(http: httpx.Client) -> None:
    r = http.get("/v3/merchants/X/nothing")
    assert r.status_code == 404
    assert set(r.json()) == {"message"}


def test_malformed_json_names_the_problem(sandbox: Sandbox, http: httpx.Client) -> None:
    _add_counter_route(sandbox)
    r = http.post(
        "/v1/_count", content=b'{"amount": 12,', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert "Malformed JSON" in err["message"]
    r = http.post("/v1/_count", content=b'{"amount": NaN}')
    assert r.status_code == 400
    assert "NaN is not valid JSON" in r.json()["error"]["message"]
    r = http.post("/v1/_count", content=b"[1, 2]")
    assert r.status_code == 400
    assert "JSON object" in r.json()["error"]["message"]


def test_oversized_body_refused(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    big = json.dumps({"x": "a" * (1 << 20)}).encode()
    r = http.post("/v1/_count", content=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    assert calls["n"] == 0

    async def chunks():  # no content-length: streamed body
        for _ in range(3):
            yield b"a" * (600 * 1024)

    async def streamed() -> httpx.Response:
        async with sandbox.async_client() as ac:
            return await ac.post("/v1/_count", content=chunks())

    assert anyio.run(streamed).status_code == 413
    assert calls["n"] == 0


def test_idempotent_replay_same_body(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    h = {"idempotency-key": "k-1"}
    first = http.post("/v1/_count", json={"a": 1, "b": [1, 2]}, headers=h)
    # same content, other key order and spacing
    again = http.post(
        "/v1/_count",
        content=b'{ "b": [1,2], "a": 1 }',
        headers={**h, "content-type": "application/json"},
    )
    assert calls["n"] == 1
    assert again.status_code == first.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    events = http.get("/_sandbox/events").json()["events"]
    assert [e["replayed"] for e in events] == [False, True]
    assert events[1]["idempotency_key"] == "k-1"


def test_idempotent_conflict_other_body(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    h = {"idempotency-key": "k-2"}
    http.post("/v1/_count", json={"a": 1}, headers=h)
    r = http.post("/v1/_count", json={"a": 2}, headers=h)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "idempotency_error"
    assert "k-2" in r.json()["error"]["message"]
    http.post("/_sandbox/config", json={"idempotency_conflict_status": 409})
    assert http.post("/v1/_count", json={"a": 3}, headers=h).status_code == 409
    assert calls["n"] == 1


def test_idempotency_scoped_per_path_and_key(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    http.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "a"})
    http.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "b"})
    http.post("/v1/_count", json={"a": 1})
    assert calls["n"] == 3


def test_committed_errors_replay_but_uncommitted_do_not(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    calls = _add_counter_route(sandbox)
    h = {"idempotency-key": "decline"}
    r1 = http.post("/v1/_count", json={"fail": True}, headers=h)
    r2 = http.post("/v1/_count", json={"fail": True}, headers=h)
    assert r1.status_code == r2.status_code == 402
    assert calls["n"] == 1
    # a malformed body never reaches the route: the key stays free
    bad = http.post("/v1/_count", content=b"{", headers={"idempotency-key": "v"})
    assert bad.status_code == 400
    ok = http.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "v"})
    assert ok.status_code == 200


def test_idempotency_ttl_uses_sandbox_clock(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    h = {"idempotency-key": "ttl"}
    http.post("/v1/_count", json={}, headers=h)
    http.post("/_sandbox/clock/advance", json={"seconds": 24 * 3600 + 1})
    http.post("/v1/_count", json={}, headers=h)
    assert calls["n"] == 2


def test_concurrent_same_key_executes_once(sandbox: Sandbox) -> None:
    gate = threading.Event()
    calls = _add_counter_route(sandbox, gate)
    results: list[httpx.Response] = []

    async def main() -> None:
        async with sandbox.async_client() as ac:

            async def one() -> None:
                results.append(
                    await ac.post("/v1/_count", json={"x": 1}, headers={"idempotency-key": "c"})
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                await anyio.sleep(0.05)
                tg.start_soon(one)
                await anyio.sleep(0.05)
                gate.set()

    anyio.run(main)
    assert calls["n"] == 1
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409]
    conflict = next(r for r in results if r.status_code == 409)
    assert "in progress" in conflict.json()["error"]["message"]


def test_fault_status_and_count(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.post(
        "/_sandbox/faults", json={"kind": "status", "path": "/pakms/*", "status": 503, "count": 2}
    )
    assert r.status_code == 200
    assert [http.get("/pakms/apikey").status_code for _ in range(3)] == [503, 503, 200]
    err = None
    http.post("/_sandbox/faults", json={"kind": "status", "method": "POST", "path": "/pakms/*"})
    assert http.get("/pakms/apikey").status_code == 200  # method does not match
    assert len(http.get("/_sandbox/faults").json()["faults"]) == 1
    http.delete("/_sandbox/faults")
    assert http.get("/_sandbox/faults").json()["faults"] == []
    assert err is None


def test_fault_status_body_shape(http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"kind": "status", "status": 502})
    r = http.get("/pakms/apikey")
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "api_error"


def test_fault_rate_limit(http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"kind": "rate_limit", "retry_after": 3})
    r = http.get("/pakms/apikey")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert r.headers["x-ratelimit-tokenlimit"] == "16"
    assert r.json()["error"]["code"] == "rate_limit"


def test_fault_delay(sandbox: Sandbox, http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"kind": "delay", "delay_s": 0.01})
    assert http.get("/pakms/apikey").status_code == 200
    assert sandbox.state.events.list()[-1]["fault"] == "delay"


def test_fault_validation(http: httpx.Client) -> None:
    r = http.post("/_sandbox/faults", json={"kind": "explode"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "fault.kind"
    r = http.post("/_sandbox/faults", json={"kind": "status", "count": 0})
    assert r.status_code == 400
    r = http.post("/_sandbox/faults", json={"kind": "status", "count": "2"})
    assert r.json()["error"]["param"] == "fault.count"


def test_commit_then_drop_commits_and_replays(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    http.post("/_sandbox/faults", json={"kind": "commit_then_drop", "path": "/v1/_count"})
    h = {"idempotency-key": "drop-1"}
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/_count", json={"a": 1}, headers=h)
    assert calls["n"] == 1
    retry = http.post("/v1/_count", json={"a": 1}, headers=h)
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert calls["n"] == 1


def test_drop_before_commit_does_nothing(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    http.post("/_sandbox/faults", json={"kind": "drop_before_commit", "path": "/v1/*"})
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "d"})
    assert calls["n"] == 0
    r = http.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "d"})
    assert r.status_code == 200
    assert "idempotent-replayed" not in r.headers
    assert calls["n"] == 1


def test_malformed_fault_commits_and_returns_garbage(sandbox: Sandbox, http: httpx.Client) -> None:
    calls = _add_counter_route(sandbox)
    http.post("/_sandbox/faults", json={"kind": "malformed"})
    r = http.post("/v1/_count", json={"a": 1})
    assert r.status_code == 200
    assert calls["n"] == 1
    with pytest.raises(json.JSONDecodeError):
        r.json()


@pytest.mark.anyio
async def test_drop_async_transport(sandbox: Sandbox) -> None:
    sandbox.state.faults.arm("drop_before_commit")
    async with sandbox.async_client() as ac:
        with pytest.raises(httpx.RemoteProtocolError):
            await ac.get("/pakms/apikey")
        assert (await ac.get("/pakms/apikey")).status_code == 200


def test_faults_over_real_socket(sandbox: Sandbox) -> None:
    calls = _add_counter_route(sandbox)
    with (
        SandboxServer(sandbox) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.credentials.access_token}"},
            timeout=5,
        ) as c,
    ):
        assert c.get("/pakms/apikey").status_code == 200
        sandbox.state.faults.arm("commit_then_drop", path="/v1/_count")
        with pytest.raises(httpx.TransportError):
            c.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "s"})
        assert calls["n"] == 1
        replay = c.post("/v1/_count", json={"a": 1}, headers={"idempotency-key": "s"})
        assert replay.headers["idempotent-replayed"] == "true"
        sandbox.state.faults.arm("drop_before_commit", path="/v1/_count")
        with pytest.raises(httpx.TransportError):
            c.post("/v1/_count", json={"a": 2})
        assert calls["n"] == 1
        sandbox.state.faults.arm("malformed", path="/pakms/*")
        garbage = c.get("/pakms/apikey")
        with pytest.raises(json.JSONDecodeError):
            garbage.json()


def test_rate_limits_off_by_default_then_on(sandbox: Sandbox, http: httpx.Client) -> None:
    assert all(http.get("/pakms/apikey").status_code == 200 for _ in range(30))
    r = http.post("/_sandbox/rate_limits", json={"enabled": True})
    assert r.json()["enabled"] is True
    statuses = [http.get("/pakms/apikey").status_code for _ in range(20)]
    assert statuses[:16] == [200] * 16
    assert 429 in statuses[16:]
    limited = http.get("/pakms/apikey")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-tokenlimit"] == "16"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    # control API is never limited; switching off restores service
    assert http.post("/_sandbox/rate_limits", json={"enabled": False}).status_code == 200
    assert http.get("/pakms/apikey").status_code == 200
    assert http.post("/_sandbox/rate_limits", json={"enabled": "yes"}).status_code == 400


def test_concurrency_limit(sandbox: Sandbox) -> None:
    limiter = sandbox.state.ratelimiter
    for _ in range(5):
        assert limiter.acquire("t") is None
    assert limiter.acquire("t") == ("X-RateLimit-tokenConcurrentLimit", 1)
    limiter.release("t")
    assert limiter.acquire("t") is None
    assert limiter.acquire("other") is None


def test_events_are_redacted(sandbox: Sandbox, http: httpx.Client) -> None:
    token = sandbox.state.merchant.access_token
    http.get("/pakms/apikey?secret=4242424242424242")
    raw = json.dumps(http.get("/_sandbox/events").json())
    assert token not in raw
    assert "4242424242424242" not in raw
    ev = sandbox.state.events.list("request")[-1]
    assert ev["path"] == "/pakms/apikey"
    assert set(ev) >= {"method", "path", "status", "duration_ms", "idempotency_key"}
    assert http.get("/_sandbox/events?limit=x").status_code == 400


def test_credentials_and_reset_and_seed(sandbox: Sandbox, http: httpx.Client) -> None:
    creds = http.get("/_sandbox/credentials").json()
    assert creds["merchant_id"] == sandbox.state.merchant.merchant_id
    assert creds["base_url"] == "http://sandbox.clover.test"
    assert "access_token" in creds
    assert "api_access_key" in creds
    # same seed -> same credentials
    assert Sandbox(seed=7).state.merchant.merchant_id == creds["merchant_id"]
    r = http.post("/_sandbox/seed", json={"seed": 99})
    assert r.json()["seed"] == 99
    assert sandbox.state.merchant.merchant_id == Sandbox(seed=99).state.merchant.merchant_id
    assert http.post("/_sandbox/seed", json={}).status_code == 400
    assert http.post("/_sandbox/seed", json={"seed": "x"}).json()["error"]["param"] == "seed"


def test_clock_control(http: httpx.Client) -> None:
    before = http.get("/_sandbox/clock").json()
    after = http.post("/_sandbox/clock/advance", json={"seconds": 3600}).json()
    assert after["offset_s"] == 3600
    assert after["now_ms"] - before["now_ms"] >= 3600 * 1000
    assert http.post("/_sandbox/clock/advance", json={"seconds": -1}).status_code == 400
    assert http.post("/_sandbox/clock/advance", json={}).json()["error"]["param"] == "seconds"
    http.post("/_sandbox/reset")
    assert http.get("/_sandbox/clock").json()["offset_s"] == 0


def test_config_validation(http: httpx.Client) -> None:
    assert http.post("/_sandbox/config", json={"decline_status": 401}).status_code == 400
    assert http.post("/_sandbox/config", json={"nope": 1}).json()["error"]["param"] == "nope"
    assert (
        http.post("/_sandbox/config", json={"decline_status": 400}).json()["decline_status"] == 400
    )


def test_notify_hook() -> None:
    sb = Sandbox(seed=1)
    seen = []
    unsubscribe = sb.state.subscribe(seen.append)
    note = sb.state.notify("P", "ABC", "CREATE")
    assert note.clover_object_id == "P:ABC"
    assert seen == [note]
    assert note.merchant_id == sb.state.merchant.merchant_id

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    sb.state.subscribe(broken)
    sb.state.notify("O", "X", "UPDATE")  # a broken listener never fails the caller
    assert len(seen) == 2
    unsubscribe()
    sb.state.notify("O", "Y", "DELETE")
    assert len(seen) == 2


def test_domain_stores_are_reset() -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Things:
        items: dict[str, int] = field(default_factory=dict)

    sb = Sandbox()
    sb.state.domain(Things).items["a"] = 1
    assert sb.state.domain(Things).items == {"a": 1}
    sb.state.reset()
    assert sb.state.domain(Things).items == {}


def test_ecommerce_errors_carry_top_level_message(sandbox: Sandbox, http: httpx.Client) -> None:
    r = http.get("/v1/charges/NOPE")
    body = r.json()
    assert body["message"] == body["error"]["message"]
    http.post("/_sandbox/config", json={"ecommerce_error_message": False})
    assert set(http.get("/v1/charges/NOPE").json()) == {"error"}
    # middleware-made errors follow the same switch
    sandbox.state.faults.arm("status", status=503)
    assert set(http.get("/pakms/apikey").json()) == {"error"}


def test_merchants_are_isolated(sandbox: Sandbox, http: httpx.Client) -> None:
    added = http.post("/_sandbox/merchants", json={"name": "Second Shop"}).json()
    assert added["merchant_id"] != sandbox.state.merchant.merchant_id
    listed = http.get("/_sandbox/merchants").json()["merchants"]
    assert [m["merchant_id"] for m in listed] == [
        sandbox.state.merchant.merchant_id,
        added["merchant_id"],
    ]
    assert http.post("/_sandbox/merchants", json={"name": ""}).json()["error"]["param"] == "name"
    third = sandbox.add_merchant("Third")
    assert third.merchant_id in sandbox.state.merchants
    other = {"Authorization": f"Bearer {added['access_token']}"}
    pakms = http.get("/pakms/apikey", headers=other).json()
    assert pakms["merchantUuid"] == added["merchant_id"]
    assert pakms["apiAccessKey"] == added["api_access_key"]
    # a token from one merchant is unknown to another
    tok = http.post(
        "/v1/tokens",
        json={
            "card": {
                "number": "4242424242424242",
                "exp_month": "1",
                "exp_year": "2035",
                "cvv": "123",
            }
        },
        headers={"apikey": added["api_access_key"]},
    ).json()
    r = http.post("/v1/charges", json={"amount": 5, "currency": "usd", "source": tok["id"]})
    assert r.status_code == 404
    ok = http.post(
        "/v1/charges", json={"amount": 5, "currency": "usd", "source": tok["id"]}, headers=other
    )
    assert ok.status_code == 200
    assert http.get("/v1/charges").json()["data"] == []
    assert len(http.get("/v1/charges", headers=other).json()["data"]) == 1


def test_unseeded_reset_keeps_the_startup_credentials() -> None:
    sb = Sandbox()  # no seed
    before = sb.credentials
    sb.state.add_merchant("Extra")
    with sb.client() as c:
        assert c.post("/_sandbox/reset").status_code == 200
        assert sb.credentials == before
        assert c.get("/pakms/apikey").json()["merchantUuid"] == before.merchant_id
        assert len(c.get("/_sandbox/merchants").json()["merchants"]) == 1
        # choosing a seed derives new credentials from it
        c.post("/_sandbox/seed", json={"seed": 3})
        assert sb.credentials.merchant_id == Sandbox(seed=3).credentials.merchant_id
    sb.close()


def test_expired_idempotency_entries_are_dropped(sandbox: Sandbox, http: httpx.Client) -> None:
    _add_counter_route(sandbox)
    for i in range(20):
        http.post("/v1/_count", json={}, headers={"idempotency-key": f"old-{i}"})
    assert len(sandbox.state.idempotency) == 20
    http.post("/_sandbox/clock/advance", json={"seconds": 24 * 3600 + 1})
    for i in range(5):
        http.post("/v1/_count", json={}, headers={"idempotency-key": f"new-{i}"})
    assert len(sandbox.state.idempotency) == 5  # 8 old ones dropped per request at most
