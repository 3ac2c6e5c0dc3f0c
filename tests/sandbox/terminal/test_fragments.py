"""Fragmented messages from the POS (envelope version 2, spec §3.1): image printing."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from cloverpay.remotepay.protocol import (
    PrintImage,
    PrintJobStatusRequest,
    PrintJobStatusResponse,
)
from cloverpay.sandbox.terminal import Terminal

from .pos import MiniPos

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

IMAGE = base64.b64encode(bytes(range(256)) * 400).decode()  # ~136 000 characters


async def _status(pos: MiniPos, job: str) -> str | None:
    await pos.send(PrintJobStatusRequest(external_print_job_id=job))
    return (await pos.until(PrintJobStatusResponse)).status


async def test_fragmented_image_is_reassembled(pos: MiniPos, terminal: Terminal) -> None:
    assert pos.core.outbound_version == 2  # learnt from the device's frames
    frames = pos.core.send(PrintImage(external_print_job_id="img-1"), attachment=IMAGE)
    assert len(frames) > 2
    mid = json.loads(frames[0])["id"]
    for frame in frames:
        await pos.ws.send(frame)
    assert await _status(pos, "img-1") == "DONE"
    assert mid in pos.acked
    assert terminal.print_jobs["img-1"] == ["<image>"]


async def test_missing_last_fragment_flag_is_tolerated(pos: MiniPos, terminal: Terminal) -> None:
    terminal.settings.fragment_idle_s = 0.1
    frames = pos.core.send(PrintImage(external_print_job_id="img-2"), attachment=IMAGE)
    last = json.loads(frames[-1])
    last["lastFragment"] = False  # as Android does for some sizes
    for frame in [*frames[:-1], json.dumps(last)]:
        await pos.ws.send(frame)
    for _ in range(100):
        if "img-2" in terminal.print_jobs:
            break
        await asyncio.sleep(0.05)
    assert await _status(pos, "img-2") == "DONE"
