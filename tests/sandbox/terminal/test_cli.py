"""``cloverpay sandbox --terminal-port 0 --terminal-tls`` as a process: the credentials
line names the terminal and its CA, and a POS trusting that CA takes a sale."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from cloverpay.remotepay.protocol import FinishOk

from .pos import MiniPos, sale

pytestmark = [pytest.mark.timeout(60)]


def test_cli_runs_the_terminal_over_wss(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "cloverpay",
        "sandbox",
        "--port",
        "0",
        "--seed",
        "5",
        "--terminal-port",
        "0",
        "--terminal-tls",
        "--terminal-cert-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        url = info["terminal_url"]
        assert url.startswith("wss://127.0.0.1:")
        assert not url.endswith(":0/remote_pay")
        assert Path(info["terminal_ca_file"]).read_text() == info["terminal_ca"]
        assert "PRIVATE KEY" not in json.dumps(info)

        async def one_sale() -> FinishOk:
            ctx = ssl.create_default_context(cafile=info["terminal_ca_file"])
            pos = await MiniPos.connect(url, ctx)  # the terminal listens before the line
            await pos.ready()
            await pos.send(sale(1250, "cli-1"))
            finish = await pos.until(FinishOk)
            await pos.close()
            return finish

        finish = asyncio.run(one_sale())
        assert finish.payment is not None
        assert finish.payment.amount == 1250
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_rejects_an_unknown_pairing_mode() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloverpay",
            "sandbox",
            "--port",
            "0",
            "--terminal-port",
            "0",
            "--terminal-pairing",
            "sometimes",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "--terminal-pairing" in r.stderr
