from __future__ import annotations

import json
from pathlib import Path

from .extract_transcript import DEFAULT_OUT, extract, main

SAMPLE = """# Transcript
## Session 1 - ws://
### connect
- `   0.015s` _socket event_ `{"connected": 1, "path": "/remote_pay"}`
- `   0.106s` **POS → device** `PAIRING_REQUEST`
  ```json
  {"id":"1","type":"COMMAND","method":"PAIRING_REQUEST","payload":"{}"}
  ```
  payload decoded (first occurrence of this method):
  ```json
  {}
  ```
- `   0.2s` **SDK callback** `onPairingCode` `"1"`
- `   0.3s` **device → POS** `PONG`
  ```json
  {"type":"PONG","id":"d6"}
  ```
- `   0.4s` _socket event_ `{"closed": true, "code": 1000}`
- `   0.5s` _socket event_ `{"connected": 2, "path": "/remote_pay"}`
### again
- `   0.6s` **POS → device** `PING`
  ```json
  {"type":"PING"}
  ```
"""


def test_extract_keeps_frames_directions_and_connections() -> None:
    frames = extract(SAMPLE)
    assert [(f["direction"], f["label"], f["connection"]) for f in frames] == [
        ("pos_to_device", "PAIRING_REQUEST", 1),
        ("device_to_pos", "PONG", 1),
        ("pos_to_device", "PING", 2),
    ]
    assert frames[0]["frame"] == (
        '{"id":"1","type":"COMMAND","method":"PAIRING_REQUEST","payload":"{}"}'
    )
    assert frames[2]["section"] == "again"
    assert frames[0]["session"] == "Session 1 - ws://"


def test_main_writes_the_fixture(tmp_path: Path) -> None:
    spec = tmp_path / "t.md"
    spec.write_text(SAMPLE, encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["x", str(spec), str(out)]) == 0
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 3
    assert main(["x"]) == 2
    assert DEFAULT_OUT.name == "transcript_frames.json"
