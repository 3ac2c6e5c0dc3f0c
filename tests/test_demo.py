"""The main job's walkthrough: in-process against the sandbox's state, and for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cloverpay._demo import PAYER_IP, walkthrough
from cloverpay.api import CloverClient
from cloverpay.sandbox import Sandbox


def test_walkthrough_moves_money_in_the_sandbox() -> None:
    sandbox = Sandbox(seed=7)
    creds = sandbox.credentials
    with CloverClient(
        creds.access_token,
        merchant_id=creds.merchant_id,
        base_url=creds.base_url,
        transport=sandbox.sync_transport(),
        client_ip=PAYER_IP,
    ) as client:
        steps = walkthrough(client)
        charges = list(client.charges.list(limit=10))
    assert [s.call for s in steps] == [
        "GET /pakms/apikey",
        "POST /v1/tokens",
        "POST /v1/charges",
        "POST /v1/refunds",
        "POST /v1/charges",
    ]
    assert "amount_refunded 500" in steps[3].result
    assert "CardDeclinedError code=card_declined" in steps[4].result
    by_status = sorted((c.status, c.amount, c.amount_refunded) for c in charges)
    assert by_status == [("failed", 1000, 0), ("succeeded", 2500, 500)]


def test_demo_command_over_a_real_socket() -> None:
    exe = Path(sys.executable).with_name("cloverpay")
    done = subprocess.run(
        [str(exe), "demo", "--port", "0", "--no-serve", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "Walkthrough against the sandbox" in done.stdout
    assert "amount_refunded 500" in done.stdout
    assert "decline_code=" in done.stdout
