"""Fixtures for the interop tests: the sandbox on a real socket, Clover's official
Node SDK as a subprocess, and Debian's Chromium driven by Playwright.

Missing peers (``tests/js/node_modules``, ``/usr/bin/chromium``) make the tests that
need them fail with a message naming ``scripts/test-deps``; they never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._peers import JS_DIR, NodePeer, RunningSandbox, start_sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
#: Playwright's per-action wait in the browser tests (ms).
BROWSER_TIMEOUT_MS = 10_000


@pytest.fixture
def sandbox_server() -> Iterator[RunningSandbox]:
    """A fresh sandbox (seed 1) on a free port of 127.0.0.1, for one test."""
    yield from start_sandbox()


# -- Clover's official Node SDK ---------------------------------------------------------


@pytest.fixture(scope="session")
def node_peer() -> NodePeer:
    """Node with Clover's official SDKs installed in tests/js/node_modules."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node.js, then run scripts/test-deps")
    if not (JS_DIR / "node_modules" / "clover-ecomm-sdk" / "package.json").is_file():
        pytest.fail(
            "tests/js/node_modules is missing Clover's official SDKs:"
            " run scripts/test-deps (npm ci in tests/js)"
        )
    return NodePeer(node)


# -- Debian's Chromium through Playwright -------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (never a Playwright-downloaded build).

    Module-scoped on purpose: Playwright's sync API keeps an event loop running in the
    main thread while it is open, which would break later tests that start their own.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test-deps (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; console errors are kept on ``page.console_errors``."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (a temp dir, never the repository)."""
    override = os.environ.get("CLOVERPAY_SCREENSHOTS")
    if override:
        path = Path(override)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")
