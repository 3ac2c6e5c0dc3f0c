"""Webhook deliveries appear in the event log, redacted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from cloverpay.sandbox import Sandbox

from .webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def _webhook_events(http: httpx.Client) -> list[dict[str, object]]:
    events: list[dict[str, object]] = http.get("/_sandbox/events?kind=webhook").json()["events"]
    return events


def test_delivery_attempts_are_logged(
    http: httpx.Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    http.post(
        "/_sandbox/webhooks/settings",
        json={"batch_window": 0.05, "backoff_base": 0.01, "backoff_cap": 0.05},
    ).raise_for_status()
    config = http.post("/_sandbox/webhooks", json={"url": receiver.url, "autoConfirm": True}).json()
    receiver.received.clear()  # the verification handshake counted as one
    receiver.fail_first = 1
    sandbox.state.notify("P", "PAY1", "CREATE")
    http.post("/_sandbox/webhooks/flush")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(
        e["state"] == "delivered" for e in _webhook_events(http)
    ):
        time.sleep(0.02)
    events = _webhook_events(http)
    assert [e["status"] for e in events] == [500, 200]
    assert [e["state"] for e in events] == ["pending", "delivered"]
    assert events[0]["delivery"] == events[1]["delivery"]
    assert events[1]["webhook_kind"] == "app"
    assert events[1]["url"] == receiver.url
    dumped = json.dumps(events)
    assert config["authCode"] not in dumped
    assert "PAY1" not in dumped  # bodies are not logged
