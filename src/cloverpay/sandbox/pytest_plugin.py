"""pytest fixtures for testing code against the sandbox (registered as ``cloverpay_sandbox``).

* ``clover_sandbox``: a fresh in-process :class:`~cloverpay.sandbox.Sandbox` per test;
  use ``clover_sandbox.sync_transport()`` / ``async_transport()`` with httpx.
* ``clover_sandbox_server``: a :class:`~cloverpay.sandbox.SandboxServer` on a real
  127.0.0.1 socket per test (``.base_url``, ``.credentials``, ``.sandbox``).
* ``clover_terminal_server``: the same with the emulated Clover terminal listening too
  (``.terminal_url`` is ``ws://127.0.0.1:PORT/remote_pay``; script the customer with
  ``terminal_for(server.sandbox.state).push_script(...)`` or the control API).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cloverpay.sandbox import Sandbox, SandboxServer

__all__ = ["clover_sandbox", "clover_sandbox_server", "clover_terminal_server"]


@pytest.fixture
def clover_sandbox() -> Iterator[Sandbox]:
    from cloverpay.sandbox import Sandbox

    sandbox = Sandbox(seed=None)
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture
def clover_sandbox_server() -> Iterator[SandboxServer]:
    from cloverpay.sandbox import Sandbox, SandboxServer

    sandbox = Sandbox(seed=None)
    server = SandboxServer(sandbox).start()
    try:
        yield server
    finally:
        server.stop()
        sandbox.close()


@pytest.fixture
def clover_terminal_server() -> Iterator[SandboxServer]:
    from cloverpay.sandbox import Sandbox, SandboxServer

    sandbox = Sandbox(seed=None)
    server = SandboxServer(sandbox, terminal_port=0).start()
    try:
        yield server
    finally:
        server.stop()
        sandbox.close()
