"""Remote Pay protocol core: CPU time to encode + decode a TX_START / FINISH_OK pair.

One "pair" is what a sale costs the two cores: the POS core encodes TX_START and the
device core decodes it; the device core encodes FINISH_OK and the POS core decodes it
(state table, typed payload validation and both JSON layers included). The messages
are the first sale of the JS SDK transcript (tests/remotepay/fixtures).

Side by side, on the same frames: the bare minimum any implementation does with the
standard library (json.loads the envelope and the payload, json.dumps them back, no
validation), the same with pydantic-core's JSON functions, and a pure-Python CPU
reference loop, so figures from different machines can be compared as ratios.

    .venv/bin/python bench/protocol_core.py [--iterations N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

from pydantic_core import from_json, to_json

from cloverpay.remotepay.protocol import (
    FinishOk,
    Method,
    RemotePayProtocol,
    Role,
    SessionState,
    TxStart,
    decode_payload,
)

FIXTURE = Path(__file__).parent.parent / "tests/remotepay/fixtures/transcript_frames.json"


def _frames() -> tuple[str, str]:
    frames = json.loads(FIXTURE.read_text(encoding="utf-8"))
    tx = next(f["frame"] for f in frames if '"method":"TX_START"' in f["frame"])
    fin = next(f["frame"] for f in frames if '"method":"FINISH_OK"' in f["frame"])
    return tx, fin


def _per_call(fn: Callable[[], object], iterations: int, repeat: int) -> float:
    """Best of ``repeat`` runs, CPU microseconds per call."""
    for _ in range(min(iterations, 500)):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(iterations):
            fn()
        best = min(best, (time.process_time() - start) / iterations)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tx_frame, fin_frame = _frames()
    tx_env = json.loads(tx_frame)
    fin_env = json.loads(fin_frame)
    tx_msg, _, _ = decode_payload(Method.TX_START, tx_env["payload"])
    fin_msg, _, _ = decode_payload(Method.FINISH_OK, fin_env["payload"])
    assert isinstance(tx_msg, TxStart)
    assert isinstance(fin_msg, FinishOk)

    pos = RemotePayProtocol(Role.POS, remote_application_id="com.example.pos:1", pairing=False)
    device = RemotePayProtocol(Role.DEVICE, pairing=False)
    pos._state = device._state = SessionState.READY  # skip pairing: measure the sale only
    pos._peer_version = 2

    def ours() -> None:
        for frame in pos.send(tx_msg):
            device.receive_data(frame)
        for frame in device.send(fin_msg):
            pos.receive_data(frame)

    def stdlib_json() -> None:
        for frame in (tx_frame, fin_frame):
            env = json.loads(frame)
            body = json.loads(env["payload"])
            env["payload"] = json.dumps(body, separators=(",", ":"))
            json.dumps(env, separators=(",", ":"))

    def pydantic_core_json() -> None:
        for frame in (tx_frame, fin_frame):
            env = from_json(frame)
            body = from_json(env["payload"])
            env["payload"] = to_json(body).decode()
            to_json(env).decode()

    def cpu_reference() -> None:
        sum(range(1000))

    ours()  # sanity: one full pair through both cores
    assert pos.state is device.state is SessionState.READY

    rows = [
        ("cloverpay core (validated, both roles)", _per_call(ours, args.iterations, args.repeat)),
        ("stdlib json only (no validation)", _per_call(stdlib_json, args.iterations, args.repeat)),
        ("pydantic-core json only", _per_call(pydantic_core_json, args.iterations, args.repeat)),
        ("CPU reference: sum(range(1000))", _per_call(cpu_reference, args.iterations, args.repeat)),
    ]
    baseline = rows[1][1]
    reference = rows[3][1]
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor()}")
    print(f"TX_START frame {len(tx_frame)} chars, FINISH_OK frame {len(fin_frame)} chars")
    print(f"{'per TX_START + FINISH_OK pair':42} {'CPU µs':>9} {'vs stdlib':>10} {'vs ref':>8}")
    for name, us in rows:
        print(f"{name:42} {us:9.1f} {us / baseline:9.2f}x {us / reference:7.1f}x")


if __name__ == "__main__":
    main()
