from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cloverpay.sandbox import Sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(seed=7)
    yield sb
    sb.close()


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """Sync client, in-process, bearer and x-forwarded-for preset."""
    with sandbox.client(headers={"x-forwarded-for": "203.0.113.9"}) as client:
        yield client
