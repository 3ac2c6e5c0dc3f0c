"""``cloverpay up`` as a user runs it: a subprocess that prints the dashboard URL, serves
the login page, and seeds its demo data once however often it is started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

CLI = Path(sys.executable).with_name("cloverpay")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_once(tmp_path: Path) -> str:
    port, sandbox_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            str(CLI),
            "up",
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--data-dir",
            str(tmp_path / "data"),
            "--no-terminal",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
    )
    out: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Ctrl-C to stop" in line:
                break
        printed = "".join(out)
        assert f"http://127.0.0.1:{port}/dashboard" in printed, printed
        assert re.search(r"cpk_\w+", printed), printed
        assert "owner@demo.cloverpay.test" in printed
        login = None
        while time.monotonic() < deadline:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/dashboard/login", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert login is not None
        assert login.status_code == 200
        assert "Sign in" in login.text
        return printed
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_up_starts_serves_and_seeds_once(tmp_path: Path) -> None:
    first = _run_once(tmp_path)
    second = _run_once(tmp_path)
    key = re.search(r"cpk_\S+", first)
    assert key is not None
    assert key.group(0) in second  # the same demo key on the second run
    engine = create_engine(f"sqlite:///{tmp_path}/data/cloverpay.db")
    with engine.connect() as conn:
        counts = [
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("merchants", "customers", "invoices", "staff_users", "api_keys")
        ]
    engine.dispose()
    assert counts == [1, 3, 3, 1, 1]
