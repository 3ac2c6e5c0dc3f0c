"""``cloverpay sandbox`` as other programs use it: start it, read the one JSON line of
credentials, connect. Scripts (and the Node SDK test harness) treat that line as the
signal that the sandbox is ready."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.timeout(60)


def test_sandbox_accepts_connections_once_it_has_printed_its_credentials() -> None:
    exe = Path(sys.executable).with_name("cloverpay")
    proc = subprocess.Popen(
        [str(exe), "sandbox", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        parts = urlsplit(info["base_url"])
        assert parts.hostname == "127.0.0.1"
        # One immediate attempt: the line is the readiness signal.
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
