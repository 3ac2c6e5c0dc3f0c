"""``cloverpay sandbox`` on a real socket, and the bare-install message."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx


def test_cli_prints_credentials_then_serves() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "cloverpay", "sandbox", "--port", "0", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            _check_running_sandbox(proc)
        finally:
            proc.terminate()
            proc.wait(10)


def _check_running_sandbox(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    info = json.loads(line)
    assert set(info) >= {"merchant_id", "access_token", "api_access_key", "base_url"}
    assert info["base_url"].startswith("http://127.0.0.1:")
    assert not info["base_url"].endswith(":0")
    with httpx.Client(base_url=info["base_url"], timeout=5) as c:
        served = c.get("/_sandbox/credentials").json()
        assert served["merchant_id"] == info["merchant_id"]
        assert served["base_url"] == info["base_url"]
        r = c.get("/pakms/apikey", headers={"Authorization": f"Bearer {info['access_token']}"})
        assert r.json()["apiAccessKey"] == info["api_access_key"]


def test_main_without_typer_names_the_extra() -> None:
    code = "import sys; sys.modules['typer'] = None\nfrom cloverpay.cli import main\nmain()\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "pip install 'cloverpay[sandbox]'" in r.stderr


def test_typer_app_importable() -> None:
    from cloverpay.cli import app

    assert app is not None


def test_injected_drop_is_not_logged_as_a_crash() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "cloverpay", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            with httpx.Client(base_url=info["base_url"], timeout=5) as c:
                c.post("/_sandbox/faults", json={"kind": "drop_before_commit", "path": "/pakms/*"})
                try:
                    c.get(
                        "/pakms/apikey", headers={"Authorization": f"Bearer {info['access_token']}"}
                    )
                except httpx.TransportError:
                    pass
                else:
                    raise AssertionError("the connection should have dropped")
                c.get("/_sandbox/clock")  # the server is still serving
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert "Exception in ASGI application" not in stderr
    assert "SandboxConnectionDropped" not in stderr
