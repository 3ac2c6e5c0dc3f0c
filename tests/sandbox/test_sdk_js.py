"""Static checks of the sdk.js stand-in and its iframe field (a browser test lives elsewhere)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from cloverpay.sandbox import Sandbox, SandboxServer


def _get(http: httpx.Client, path: str) -> httpx.Response:
    r = http.get(path)
    assert r.status_code == 200, r.text
    return r


def test_sdk_js_is_served_with_clovers_public_api(http: httpx.Client) -> None:
    r = _get(http, "/sdk.js")
    assert r.headers["content-type"].startswith("application/javascript")
    js = r.text
    assert "global.Clover = Clover" in js
    for name in ("elements()", "create(type, styles)", "mount(selector)", "createToken()"):
        assert name in js, name
    assert "addEventListener(name, callback)" in js
    for kind in (
        "CARD_NUMBER",
        "CARD_DATE",
        "CARD_CVV",
        "CARD_POSTAL_CODE",
        "CARD_NAME",
        "CARD_STREET_ADDRESS",
    ):
        assert f"'{kind}'" in js
    assert "clover-footer" in js
    assert "/iframe/element?" in js
    assert "type === 'PAYMENT_REQUEST_BUTTON'" in js  # accepted, shown as unavailable
    assert "this._queue.push(message)" in js  # messages wait for the frame to load


def test_sdk_js_checks_origins_and_never_handles_card_fields(http: httpx.Client) -> None:
    js = _get(http, "/sdk.js").text
    assert "event.origin !== SANDBOX_ORIGIN" in js
    assert "event.source !== element._iframe.contentWindow" in js
    assert "postMessage(message, SANDBOX_ORIGIN)" in js
    # The parent page never sees a number, CVV or expiry: only states and the token.
    for forbidden in (".number", "cvv", "exp_month"):
        assert forbidden not in js, forbidden


def test_element_frame_posts_only_to_its_parent_origin(http: httpx.Client) -> None:
    js = _get(http, "/iframe/element.js").text
    assert "event.source !== window.parent || event.origin !== PARENT_ORIGIN" in js
    assert "window.parent.postMessage(message, PARENT_ORIGIN)" in js
    assert "fetch('/v1/tokens'" in js
    assert "apikey: request.apiAccessKey" in js
    # Every message to the parent: states, token and card summary only.
    calls = re.findall(r"toParent\(\{[^}]*\}", js)
    assert len(calls) >= 4
    for call in calls:
        assert "number" not in call.replace("networkError", ""), call
        assert "cvv" not in call, call


@pytest.mark.parametrize("kind", ["CARD_NUMBER", "CARD_DATE", "CARD_CVV", "CARD_POSTAL_CODE"])
def test_element_frame_page(http: httpx.Client, kind: str) -> None:
    r = _get(http, f"/iframe/element?type={kind}&frameId=f1&parentOrigin=http://shop.test")
    assert r.headers["content-type"].startswith("text/html")
    assert '<input id="field"' in r.text
    assert '<script src="/iframe/element.js">' in r.text
    assert "x-frame-options" not in r.headers


def test_element_frame_rejects_unknown_type(http: httpx.Client) -> None:
    r = http.get("/iframe/element?type=CARD_PIN")
    assert r.status_code == 400
    assert "type" in r.text


def test_scripts_are_plain_es2017() -> None:
    root = Path(__file__).parents[2] / "src/cloverpay/sandbox/static"
    for name in ("sdk.js", "element.js"):
        js = (root / name).read_text()
        code = re.sub(r"/\*.*?\*/", "", js, flags=re.S)
        assert "?." not in code.replace("? .", ""), f"{name}: optional chaining is ES2020"
        assert "??" not in code, f"{name}: nullish coalescing is ES2020"
        assert not re.search(r"\{\s*\.\.\.", code), f"{name}: object spread is ES2018"
        assert "import " not in code
        assert "export " not in code


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_scripts_parse_with_node() -> None:
    root = Path(__file__).parents[2] / "src/cloverpay/sandbox/static"
    for name in ("sdk.js", "element.js"):
        result = subprocess.run(
            ["node", "--check", str(root / name)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr


def test_sdk_js_over_a_real_socket(sandbox: Sandbox) -> None:
    with SandboxServer(sandbox) as server:
        r = httpx.get(f"{server.base_url}/sdk.js", timeout=10)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "class Clover" in r.text
