"""The peers the interop tests drive: the sandbox on a real socket, and Node running
Clover's official SDKs. Fixtures in ``conftest.py`` hand these out."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer

REPO = Path(__file__).resolve().parents[2]
JS_DIR = REPO / "tests" / "js"


@dataclass
class RunningSandbox:
    """A sandbox served on 127.0.0.1, with its merchant's credentials.

    ``sandbox`` is the in-process :class:`Sandbox` behind a :class:`SandboxServer`, or
    ``None`` for a ``cloverpay sandbox`` process (then state is read over HTTP).
    """

    server: Any
    sandbox: Any
    base_url: str
    merchant_id: str
    access_token: str
    api_access_key: str
    app_id: str = ""
    app_secret: str = ""

    def client(self) -> httpx.Client:
        """An httpx client for the merchant's backend: bearer token, merchant id."""
        return httpx.Client(
            base_url=self.base_url,
            headers={
                "authorization": f"Bearer {self.access_token}",
                "x-clover-merchant-id": self.merchant_id,
            },
            timeout=10,
        )

    def events(self) -> list[dict[str, Any]]:
        """The sandbox's own event log of served requests, oldest first."""
        if self.sandbox is None:
            with self.client() as c:
                resp = c.get("/_sandbox/events", params={"kind": "request"})
            resp.raise_for_status()
            from_http: list[dict[str, Any]] = resp.json()["events"]
            return from_http
        events: list[dict[str, Any]] = self.sandbox.state.events.list("request")
        return events

    def charges(self) -> list[dict[str, Any]]:
        """Every charge the sandbox holds (any merchant), as Clover JSON."""
        state = self.sandbox.state
        with state.lock:
            return [c.to_json() for c in state.ecommerce.charges]

    def requests(self, method: str, path_prefix: str) -> list[dict[str, Any]]:
        """Request events for ``method`` on paths starting with ``path_prefix``."""
        return [
            e
            for e in self.events()
            if e.get("kind") == "request"
            and e.get("method") == method
            and str(e.get("path", "")).startswith(path_prefix)
        ]

    def env(self) -> dict[str, str]:
        """Environment variables handing the sandbox to a peer process."""
        return {
            "CLOVER_BASE_URL": self.base_url,
            "CLOVER_MERCHANT_ID": self.merchant_id,
            "CLOVER_ACCESS_TOKEN": self.access_token,
            "CLOVER_API_ACCESS_KEY": self.api_access_key,
        }


def start_sandbox(**sandbox_kwargs: Any) -> Iterator[RunningSandbox]:
    """Serve a fresh ``Sandbox(seed=1, **sandbox_kwargs)`` on 127.0.0.1 for the body."""
    sandbox = Sandbox(seed=1, **sandbox_kwargs)
    try:
        with SandboxServer(sandbox) as srv:
            creds = srv.credentials
            yield RunningSandbox(
                server=srv,
                sandbox=srv.sandbox,
                base_url=srv.base_url.rstrip("/"),
                merchant_id=creds.merchant_id,
                access_token=creds.access_token,
                api_access_key=creds.api_access_key,
                app_id=creds.app_id,
                app_secret=creds.app_secret,
            )
    finally:
        sandbox.close()


def wait_for_port(base_url: str, timeout: float) -> None:
    """Return once ``base_url``'s port accepts TCP connections (bounded wait)."""
    parts = urlsplit(base_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on {base_url} after {timeout} s")
            time.sleep(0.05)


@contextmanager
def cli_sandbox(timeout: float = 20) -> Iterator[RunningSandbox]:
    """Run ``cloverpay sandbox --port 0`` as a process, as a developer would."""
    exe = Path(sys.executable).with_name("cloverpay")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cloverpay"]
    cmd += ["sandbox", "--host", "127.0.0.1", "--port", "0", "--seed", "7"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready and proc.stdout else ""
        if not line:
            proc.kill()
            _, err = proc.communicate(timeout=5)
            pytest.fail(f"cloverpay sandbox printed no credentials line; stderr:\n{err[-2000:]}")
        info = json.loads(line)
        # test_cli_sandbox.py checks the line means "listening"; this bounded wait
        # keeps the Node tests meaningful even if that regresses.
        wait_for_port(info["base_url"], timeout)
        yield RunningSandbox(
            server=proc,
            sandbox=None,
            base_url=info["base_url"].rstrip("/"),
            merchant_id=info["merchant_id"],
            access_token=info["access_token"],
            api_access_key=info["api_access_key"],
            app_id=info["app_id"],
            app_secret=info["app_secret"],
        )
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@dataclass(frozen=True)
class NodePeer:
    node: str

    def run(
        self, script: str, *args: str, env: dict[str, str], timeout: float = 30
    ) -> dict[str, Any]:
        """Run ``tests/js/<script>`` and return the JSON object on its last output line."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        proc = subprocess.run(
            [self.node, str(JS_DIR / script), *args],
            cwd=JS_DIR,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        assert lines, (
            f"node {script} {' '.join(args)} printed nothing (exit {proc.returncode});"
            f" stderr:\n{proc.stderr[-2000:]}"
        )
        try:
            result: dict[str, Any] = json.loads(lines[-1])
        except json.JSONDecodeError:
            pytest.fail(f"node {script}: last line is not JSON: {lines[-1][:500]!r}")
        return result
