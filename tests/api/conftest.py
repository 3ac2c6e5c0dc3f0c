from __future__ import annotations

import pytest

from .fake import FakeClover


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> FakeClover:
    return FakeClover()
