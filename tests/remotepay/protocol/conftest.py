from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load_transcript() -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = json.loads(
        (FIXTURES / "transcript_frames.json").read_text(encoding="utf-8")
    )
    return frames


@pytest.fixture(scope="session")
def transcript() -> list[dict[str, Any]]:
    return load_transcript()
