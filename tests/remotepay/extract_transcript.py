"""Extract every frame of remote-pay-transcript.md into a JSON fixture.

Usage: python tests/remotepay/extract_transcript.py SPEC.md [OUT.json]

Each frame keeps its exact text, its direction, the session and section it came from,
and the number of the WebSocket connection it travelled on (socket events in the
transcript mark where connections open), so tests can replay it connection by
connection. Long attachment chunks are shortened in the transcript itself
("...<N more chars>"); they are kept as they are.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

FRAME = re.compile(r"- `\s*([\d.]+)s` \*\*(POS → device|device → POS)\*\* `([^`]*)`")
SOCKET = re.compile(r"- `\s*([\d.]+)s` _socket event_ `(\{.*\})`")
DEFAULT_OUT = Path(__file__).parent / "fixtures" / "transcript_frames.json"


def extract(text: str) -> list[dict[str, Any]]:
    lines = text.split("\n")
    frames: list[dict[str, Any]] = []
    session = section = ""
    connection = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            session = line[3:].strip()
        elif line.startswith("### "):
            section = line[4:].strip()
        socket = SOCKET.match(line)
        if socket and "connected" in json.loads(socket.group(2)):
            connection += 1
        match = FRAME.match(line)
        if match:
            j = i + 1
            while not lines[j].strip().startswith("```json"):
                j += 1
            raw = lines[j + 1].strip()
            json.loads(raw)  # every frame must be one JSON object on one line
            frames.append(
                {
                    "session": session,
                    "section": section,
                    "connection": connection,
                    "time": float(match.group(1)),
                    "direction": "pos_to_device"
                    if match.group(2) == "POS → device"
                    else "device_to_pos",
                    "label": match.group(3),
                    "frame": raw,
                }
            )
            i = j + 1
        i += 1
    return frames


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    frames = extract(Path(argv[1]).read_text(encoding="utf-8"))
    out.write_text(json.dumps(frames, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(frames)} frames -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
