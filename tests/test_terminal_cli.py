"""``cloverpay terminal …`` end to end: the sandbox (and its emulated terminal) in one
process, each CLI command in another, over real sockets (wss with the sandbox's CA, and
plain ws only when asked for); the money is checked in the sandbox's v3 view."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.timeout(180)]


class Sandbox:
    def __init__(self, info: dict[str, Any], tmp: Path) -> None:
        self.info = info
        self.url: str = info["terminal_url"]
        self.ca_file: str = info["terminal_ca_file"]
        self.token_file = tmp / "tokens" / "terminals.json"
        self.http = httpx.Client(
            base_url=info["base_url"],
            headers={"Authorization": f"Bearer {info['access_token']}"},
            timeout=10,
        )

    def cli(
        self, *args: str, trust: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "cloverpay", "terminal", *args]
        if trust:
            cmd += ["--url", self.url, "--ca-file", self.ca_file]
        cmd += ["--token-file", str(self.token_file), "--timeout", "20"]
        environ = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=environ)

    def cli_json(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        r = self.cli(*args, "--json", env=env)
        assert r.stdout.strip(), r.stderr
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])

    def payments(self, external_id: str) -> list[dict[str, Any]]:
        mid = self.info["merchant_id"]
        r = self.http.get(
            f"/v3/merchants/{mid}/payments",
            params={"filter": f"externalPaymentId={external_id}"},
        )
        r.raise_for_status()
        elements: list[dict[str, Any]] = r.json()["elements"]
        return elements


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("terminal-cli")
    cmd = [sys.executable, "-m", "cloverpay", "sandbox", "--port", "0", "--seed", "3"]
    cmd += ["--terminal-port", "0", "--terminal-tls", "--terminal-cert-dir", str(tmp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        sb = Sandbox(json.loads(proc.stdout.readline()), tmp)
        yield sb
        sb.http.close()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_pair_shows_the_code_and_keeps_the_token(sandbox: Sandbox) -> None:
    r = sandbox.cli("pair")
    assert r.returncode == 0, r.stderr
    assert "Pairing code" in r.stdout
    assert "Paired" in r.stdout
    assert "Clover Mini (sandbox)" in r.stdout
    mode = stat.S_IMODE(sandbox.token_file.stat().st_mode)
    assert mode == 0o600
    tokens = json.loads(sandbox.token_file.read_text())
    assert list(tokens) == [sandbox.url]
    assert tokens[sandbox.url] not in r.stdout + r.stderr  # the token is never printed

    again = sandbox.cli("status")
    assert again.returncode == 0, again.stderr
    assert "Pairing code" not in again.stdout  # the kept token paired at once
    assert "IDLE" in again.stdout


def test_sale_refund_void_lookup_message(sandbox: Sandbox) -> None:
    code, sale = sandbox.cli_json("sale", "--amount", "2500", "--external-id", "cli-sale-1")
    assert code == 0, sale
    assert (sale["result"], sale["amount"], sale["external_id"]) == ("SUCCESS", 2500, "cli-sale-1")
    v3 = sandbox.payments("cli-sale-1")
    assert [p["id"] for p in v3] == [sale["payment_id"]]

    code, refund = sandbox.cli_json(
        "refund",
        "--payment-id",
        sale["payment_id"],
        "--order-id",
        sale["order_id"],
        "--amount",
        "1000",
    )
    assert code == 0, refund
    assert refund["refund_amount"] == 1000

    code, other = sandbox.cli_json("sale", "--amount", "700")
    assert code == 0, other
    assert other["external_id"].startswith("cli-")
    code, void = sandbox.cli_json(
        "void", "--payment-id", other["payment_id"], "--order-id", other["order_id"]
    )
    assert code == 0, void
    assert sandbox.payments(other["external_id"])[0]["result"] == "VOIDED"

    table = sandbox.cli("lookup", "--external-id", "cli-sale-1")
    assert table.returncode == 0, table.stderr
    assert "FOUND" in table.stdout
    assert sale["payment_id"] in table.stdout
    missing = sandbox.cli("lookup", "--external-id", "cli-nothing")
    assert missing.returncode == 1

    shown = sandbox.cli("message", "Thanks for shopping")
    assert shown.returncode == 0, shown.stderr
    screen = sandbox.http.get("/_sandbox/terminal").json()["screen"]
    assert screen["text"] == "Thanks for shopping"


def test_declined_sale_exits_1_and_charges_nothing_twice(sandbox: Sandbox) -> None:
    r = sandbox.http.post("/_sandbox/terminal/script", json={"outcome": "decline"})
    r.raise_for_status()
    code, sale = sandbox.cli_json("sale", "--amount", "999", "--external-id", "cli-decl-1")
    assert code == 1
    assert (sale["result"], sale["success"]) == ("CANCEL", False)
    assert [p["result"] for p in sandbox.payments("cli-decl-1")] == ["FAIL"]


def test_plain_ws_and_bad_trust_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    plain = sandbox.url.replace("wss://", "ws://")
    r = sandbox.cli("status", "--url", plain, trust=False)
    assert r.returncode == 2
    assert "allow_plain_ws" in r.stderr or "plain ws://" in r.stderr
    wrong_pin = "00" * 32
    r = sandbox.cli("status", "--url", sandbox.url, "--pin", wrong_pin, trust=False)
    assert r.returncode == 2
    assert "could not reach" in r.stderr


def test_a_sale_lost_in_a_reboot_is_looked_up_never_resent(sandbox: Sandbox) -> None:
    """The device restarts after charging and forgets the sale: without REST access the
    CLI reports UNKNOWN (exit 3); with it, the payment is found (exit 0). One payment."""
    http = sandbox.http
    http.post("/_sandbox/terminal/settings", json={"retrieve_scope": "boot"}).raise_for_status()
    reboot = {"outcome": "reboot_mid_sale", "stage": "after_auth"}
    try:
        http.post("/_sandbox/terminal/script", json=reboot).raise_for_status()
        code, unknown = sandbox.cli_json("sale", "--amount", "4100", "--external-id", "cli-boot-1")
        assert code == 3, unknown
        assert unknown["result"] == "UNKNOWN"
        assert "no REST lookup" in unknown["reason"]

        http.post("/_sandbox/terminal/script", json=reboot).raise_for_status()
        rest = {
            "CLOVERPAY_API_TOKEN": sandbox.info["access_token"],
            "CLOVERPAY_MERCHANT_ID": sandbox.info["merchant_id"],
            "CLOVERPAY_API_BASE_URL": sandbox.info["base_url"],
        }
        code, found = sandbox.cli_json(
            "sale", "--amount", "4200", "--external-id", "cli-boot-2", env=rest
        )
        assert code == 0, found
        assert found["recovered"].startswith("PAID via rest")
        assert sandbox.info["access_token"] not in json.dumps(found)
    finally:
        http.post("/_sandbox/terminal/settings", json={"retrieve_scope": "all"})
    assert len(sandbox.payments("cli-boot-1")) == 1  # charged: unknown, never failed
    assert [p["id"] for p in sandbox.payments("cli-boot-2")] == [found["payment_id"]]
