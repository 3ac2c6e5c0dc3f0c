"""Events out refuses URLs that reach private, loopback, link-local (cloud metadata)
and other non-public addresses, when the URL is saved (a clear error on ``url``) and
again before each delivery (DNS may have changed), unless
``events_out_allow_networks`` allows the network; a delivery goes to the address that
was checked, with the URL's host in ``Host``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloverpay.service import events_destination
from cloverpay.service.db import EventDelivery, Merchant, OutboxEvent
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.events_destination import (
    DestinationRefused,
    allowed_networks,
    check_destination,
)
from cloverpay.service.events_out import configure_events, deliver_events
from cloverpay.service.services import ServiceContext
from cloverpay.service.services.merchants import create_api_key
from cloverpay.service.services.records import add_outbox

from .conftest import csrf_of, login

#: name -> addresses, the tests' DNS (changed by the tests).
DNS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def _dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in DNS:
            raise OSError(f"unknown host {host}")
        return DNS[host]

    monkeypatch.setattr(events_destination, "resolve_host", resolve)
    DNS.clear()
    yield
    DNS.clear()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.2/x", "loopback"),
        ("http://[::1]:8080/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.0.10/x", "private"),
        ("http://172.16.5.4/x", "private"),
        ("http://100.64.0.1/x", "private"),  # carrier-grade NAT
        ("http://[fd00:ec2::254]/x", "private"),  # a cloud's IPv6 metadata
        ("http://[::ffff:10.0.0.1]/x", "private"),  # IPv4-mapped
        ("http://0.0.0.0/x", "unspecified"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://internal.example/x", "10.9.9.9"),  # a name that resolves inside
        ("http://mixed.example/x", "192.168.1.1"),  # one bad address is enough
        ("http://nowhere.example/x", "does not resolve"),
    ],
)
def test_non_public_destinations_are_refused(url: str, why: str) -> None:
    DNS.update(
        {"internal.example": ["10.9.9.9"], "mixed.example": ["93.184.215.14", "192.168.1.1"]}
    )
    with pytest.raises(DestinationRefused, match=why):
        check_destination(url, allow=allowed_networks(["127.0.0.1/32"]))


def test_public_and_allowed_destinations_pass() -> None:
    DNS["crm.example.com"] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    dest = check_destination("https://crm.example.com/hooks")
    assert (dest.host, dest.address) == ("crm.example.com", "93.184.215.14")
    url, headers, extensions = dest.request_args()
    assert url == "https://93.184.215.14/hooks"
    assert headers == {"Host": "crm.example.com"}
    assert extensions == {"sni_hostname": "crm.example.com"}
    allow = allowed_networks(["127.0.0.1/32", "10.0.0.0/8"])
    assert check_destination("http://127.0.0.1:8000/x", allow=allow).address == "127.0.0.1"
    assert check_destination("http://10.2.3.4/x", allow=allow).address == "10.2.3.4"
    with pytest.raises(DestinationRefused):
        check_destination("http://127.0.0.2/x", allow=allow)  # only what is listed


def test_saving_a_private_url_is_refused_naming_the_field(
    ctx: ServiceContext, merchant: Merchant, app_client: TestClient, staff: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        configure_events(ctx, merchant.id, url="http://169.254.169.254/x", actor="t")
    assert (refused.value.field, refused.value.code) == ("url", "url_not_allowed")
    assert "169.254.169.254" in refused.value.message
    auth = {"Authorization": f"Bearer {create_api_key(ctx, merchant.id).secret}"}
    body = {"url": "http://10.0.0.5/hooks", "signing_secret": "s" * 32}
    r = app_client.post("/v1/event_settings", headers=auth, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["type"], error["code"], error["field"]) == (
        "invalid_request_error",
        "url_not_allowed",
        "url",
    )
    assert "10.0.0.5" in error["message"]
    # the dashboard's form says so too, and nothing was saved
    csrf = login(app_client)
    page = app_client.post(
        "/dashboard/settings/events",
        data={"csrf_token": csrf, "url": "http://192.168.1.20/x", "enabled": "1"},
        follow_redirects=True,
    )
    assert "192.168.1.20" in page.text
    assert csrf_of(page.text)
    assert app_client.get("/v1/event_settings", headers=auth).status_code == 404


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[str]]]:
    """A receiver on 127.0.0.1: its port and the Host headers it saw."""
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            hosts.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], hosts
    finally:
        server.shutdown()
        server.server_close()


def _event(ctx: ServiceContext, merchant: Merchant, key: str) -> None:
    with ctx.sessions.begin() as s:
        add_outbox(
            s,
            merchant_id=merchant.id,
            topic="invoice.paid",
            dedupe_key=key,
            payload={"invoice_id": key},
            now=ctx.now(),
        )


def test_delivery_checks_again_and_goes_to_the_checked_address(
    ctx: ServiceContext, merchant: Merchant, receiver: tuple[int, list[str]]
) -> None:
    port, hosts = receiver
    DNS["crm.example.test"] = ["127.0.0.1"]  # allowed by the tests' settings
    configure_events(ctx, merchant.id, url=f"http://crm.example.test:{port}/hooks", actor="t")
    _event(ctx, merchant, "e:1")
    assert deliver_events(ctx, timeout_s=5).delivered == 1
    # sent to the address checked, the name kept for the receiver
    assert hosts == [f"crm.example.test:{port}"]

    # DNS now points the name inside the network: refused before any connection
    DNS["crm.example.test"] = ["10.0.0.7"]
    _event(ctx, merchant, "e:2")
    report = deliver_events(ctx, timeout_s=5)
    assert (report.delivered, report.retried) == (0, 1)
    assert hosts == [f"crm.example.test:{port}"]
    with ctx.sessions() as s:
        row = s.scalars(select(OutboxEvent).where(OutboxEvent.dedupe_key == "e:2")).one()
        tries = list(s.scalars(select(EventDelivery).where(EventDelivery.outbox_id == row.id)))
    assert row.status == "pending"
    assert [(t.status_code, t.succeeded) for t in tries] == [(None, False)]
    assert "not sent" in (tries[0].error or "")
    assert "10.0.0.7" in (tries[0].error or "")
