"""The fixtures registered through the ``pytest11`` entry point."""

from __future__ import annotations

import httpx
import pytest

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


def test_plugin_import_needs_no_sandbox_extra() -> None:
    """pytest loads the plugin in every run; a bare install must not break or slow it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['starlette'] = None\n"
        "sys.modules['uvicorn'] = None\n"
        "import cloverpay.sandbox.pytest_plugin\n"
        "import cloverpay.sandbox\n"
        "assert 'cloverpay.sandbox._app' not in sys.modules\n"
        "print('light')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "light"


def test_lazy_exports_resolve() -> None:
    import cloverpay.sandbox as pkg

    assert pkg.Sandbox is Sandbox
    assert "Sandbox" in dir(pkg)
    with pytest.raises(AttributeError, match="NoSuchName"):
        pkg.NoSuchName  # noqa: B018
