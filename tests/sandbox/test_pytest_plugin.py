"""The fixtures registered through the ``pytest11`` entry point."""

from __future__ import annotations

import httpx

from cloverpay.sandbox import Sandbox, SandboxServer


def test_clover_sandbox_fixture(clover_sandbox: Sandbox) -> None:
    with clover_sandbox.client() as c:
        assert c.get("/pakms/apikey").status_code == 200


def test_clover_sandbox_server_fixture(clover_sandbox_server: SandboxServer) -> None:
    creds = clover_sandbox_server.credentials
    assert creds.base_url == clover_sandbox_server.base_url
    r = httpx.get(
        f"{creds.base_url}/pakms/apikey",
        headers={"Authorization": f"Bearer {creds.access_token}"},
        timeout=5,
    )
    assert r.json()["merchantUuid"] == creds.merchant_id
    assert creds.access_token not in repr(creds)
