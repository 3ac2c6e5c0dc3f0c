"""``cloverpay up`` as a user runs it, in a subprocess: started, read until its panel is
printed, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("cloverpay")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_up(tmp_path: Path, *, columns: int = 200) -> tuple[subprocess.Popen[str], int, str]:
    """``cloverpay up`` (no terminal) in a subprocess, read until it is ready: the
    process, its port and what it printed (stopped again if reading fails)."""
    port, sandbox_port = free_port(), free_port()
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
        env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"},
    )
    out: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Ctrl-C to stop" in line:
                break
    except BaseException:
        stop_up(proc)
        raise
    return proc, port, "".join(out)


def stop_up(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
