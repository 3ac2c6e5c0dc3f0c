"""The peers the interop tests drive: the sandbox on a real socket, and Node running
Clover's official SDKs. Fixtures in ``conftest.py`` hand these out."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer

REPO = Path(__file__).resolve().parents[2]
JS_DIR = REPO / "tests" / "js"


@dataclass
class RunningSandbox:
    """A sandbox served by uvicorn on 127.0.0.1, with its merchant's credentials."""

    server: Any
    sandbox: Any
    base_url: str
    merchant_id: str
    access_token: str
    api_access_key: str

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
            )
    finally:
        sandbox.close()


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
