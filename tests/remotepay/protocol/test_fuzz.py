"""Fuzzing: whatever arrives, the core answers with events or a RemoteProtocolError,
never another exception, never a hang, never unbounded buffering."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloverpay.remotepay.protocol import (
    FragmentLimits,
    Method,
    RemotePayProtocol,
    RemoteProtocolError,
    Role,
    SessionState,
)

from .conftest import load_transcript

FRAMES = [f["frame"] for f in load_transcript()]
LIMITS = FragmentLimits(
    max_frame_chars=20_000, max_fragments=16, max_message_chars=2_000, max_pending_messages=3
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
envelope_keys = st.sampled_from(
    [
        "id",
        "type",
        "method",
        "payload",
        "version",
        "packageName",
        "fragmentIndex",
        "lastFragment",
        "attachment",
        "attachmentEncoding",
        "remoteSourceSDK",
    ]
)
methods = st.sampled_from([m.value for m in Method] + ["NOPE", ""])
types = st.sampled_from(["COMMAND", "EVENT", "QUERY", "PING", "PONG", "X"])


def _cores() -> list[RemotePayProtocol]:
    pos = RemotePayProtocol(
        Role.POS, remote_application_id="com.example.pos:1", pairing=False, limits=LIMITS
    )
    ready = RemotePayProtocol(
        Role.POS, remote_application_id="com.example.pos:1", pairing=False, limits=LIMITS
    )
    ready._state = SessionState.READY
    device = RemotePayProtocol(Role.DEVICE, limits=LIMITS)
    busy = RemotePayProtocol(Role.DEVICE, limits=LIMITS)
    busy._state = SessionState.TRANSACTION
    return [pos, ready, device, busy]


def _feed(frames: list[str]) -> None:
    for core in _cores():
        for frame in frames:
            try:
                events = core.receive_data(frame, now=0.0)
            except RemoteProtocolError:
                continue
            assert isinstance(events, list)
            assert len(events) <= 1
        assert core.pending_fragments <= LIMITS.max_pending_messages
        core.expire_fragments(now=10.0)
        assert core.pending_fragments == 0


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _feed([text])


@FUZZ
@given(st.dictionaries(envelope_keys, json_value, max_size=8))
def test_arbitrary_envelopes(env: dict[str, Any]) -> None:
    _feed([json.dumps(env)])


@FUZZ
@given(types, methods, st.dictionaries(st.text(max_size=12), json_value, max_size=6), st.integers())
def test_arbitrary_payloads_for_every_method(
    mtype: str, method: str, body: dict[str, Any], version: int
) -> None:
    frame = {"id": "1", "type": mtype, "method": method, "payload": json.dumps(body)}
    frame["version"] = version
    _feed([json.dumps(frame)])


fragment = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["1", "2", "3", "4", "5"]),
        "type": st.just("COMMAND"),
        "method": st.sampled_from(["PRINT_IMAGE", "PRINT_TEXT", "TERMINAL_MESSAGE"]),
        "fragmentIndex": st.integers(min_value=-2, max_value=20),
        "lastFragment": st.booleans(),
    },
    optional={
        "payload": st.one_of(st.none(), st.text(max_size=600), st.just('{"text":"hi"}')),
        "attachment": st.text(alphabet="ABCD", max_size=600),
    },
)


@FUZZ
@given(st.lists(fragment, max_size=40))
def test_fragment_streams(frags: list[dict[str, Any]]) -> None:
    _feed([json.dumps(f) for f in frags])


@FUZZ
@given(
    st.sampled_from(FRAMES),
    st.lists(st.tuples(st.integers(min_value=0), st.text(max_size=3)), min_size=1, max_size=4),
)
def test_mutated_transcript_frames(frame: str, edits: list[tuple[int, str]]) -> None:
    for pos, text in edits:
        i = pos % (len(frame) + 1)
        frame = frame[:i] + text + frame[i + 1 :]
    _feed([frame])


@FUZZ
@given(st.sampled_from(FRAMES), json_value, st.sampled_from(["payload", "inner"]))
def test_transcript_frames_with_a_field_replaced(frame: str, value: Any, where: str) -> None:
    env = json.loads(frame)
    if where == "payload" or not env.get("payload"):
        env["payload"] = value
    else:
        body = json.loads(env["payload"])
        if body:
            body[sorted(body)[0]] = value
        env["payload"] = json.dumps(body)
    _feed([json.dumps(env)])


def test_huge_and_deep_inputs_are_bounded() -> None:
    deep_payload = json.dumps({"id": "1", "method": "FINISH_OK", "payload": "[" * 5000})
    nested = '{"payment":' + '{"a":' * 3000 + "1" + "}" * 3001
    deep_body = json.dumps({"id": "1", "method": "FINISH_OK", "payload": nested})
    _feed([deep_payload, deep_body, "x" * 30_000, json.dumps({"id": "1", "fragmentIndex": 10**9})])
