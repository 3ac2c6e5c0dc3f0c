"""Golden fixtures: every frame Clover's JS SDK and the stand-in device exchanged."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import groupby
from typing import Any

import pytest

from cloverpay.remotepay.protocol import (
    Envelope,
    Message,
    MessageReceived,
    Method,
    Ping,
    PingReceived,
    Pong,
    PongReceived,
    PrintImage,
    RemotePayProtocol,
    Role,
    SessionState,
    UntypedMessage,
    decode_payload,
    encode_envelope,
    encode_payload,
    parse_envelope,
)

from .conftest import load_transcript

FRAMES = load_transcript()
POS_FRAMES = [f for f in FRAMES if f["direction"] == "pos_to_device"]
DEVICE_FRAMES = [f for f in FRAMES if f["direction"] == "device_to_pos"]
RAID = "com.example.harness.pos:0.1.0"
JS_SDK = "com.clover.cloverconnector.cloud:4.1.2"


def _ids(frames: list[dict[str, Any]]) -> list[str]:
    return [f"{f['connection']}-{f['time']}-{f['label']}" for f in frames]


def _equivalent(a: str, b: str) -> None:
    """JSON-equivalent frames, payloads compared as parsed JSON."""
    ja, jb = json.loads(a), json.loads(b)
    pa, pb = ja.pop("payload", None), jb.pop("payload", None)
    assert ja == jb
    assert (json.loads(pa) if pa else pa) == (json.loads(pb) if pb else pb)


def test_fixture_covers_the_transcript() -> None:
    assert len(FRAMES) == 340
    methods = {json.loads(f["frame"]).get("method") for f in FRAMES}
    assert len(methods - {None}) == 55


@pytest.mark.parametrize("frame", FRAMES, ids=_ids(FRAMES))
def test_every_frame_reencodes_to_an_equivalent_frame(frame: dict[str, Any]) -> None:
    env = parse_envelope(frame["frame"], max_chars=10_000_000)
    if env.method is not None and env.payload is not None:
        message, inner_id, inner_version = decode_payload(Method(env.method), env.payload)
        assert isinstance(message, Message), f"{env.method} has no typed payload"
        payload = encode_payload(message, message_id=inner_id, inner_version=inner_version)
        env = replace(env, payload=payload)
    _equivalent(encode_envelope(env), frame["frame"])


def _strip_ids(frame: str) -> tuple[dict[str, Any], Any]:
    env = json.loads(frame)
    env.pop("id", None)
    env.pop("version", None)
    payload = env.pop("payload", None)
    body = json.loads(payload) if payload else payload
    if isinstance(body, dict):
        body.pop("messageId", None)
    return env, body


@pytest.mark.parametrize(
    "frame",
    [f for f in POS_FRAMES if "fragmentIndex" not in f["frame"]],
    ids=_ids([f for f in POS_FRAMES if "fragmentIndex" not in f["frame"]]),
)
def test_pos_core_writes_the_frames_the_js_sdk_writes(frame: dict[str, Any]) -> None:
    """Apart from ids and versions, our POS core produces the JS SDK's exact frames."""
    env = parse_envelope(frame["frame"], max_chars=10_000_000)
    pos = RemotePayProtocol(
        Role.POS,
        remote_application_id=RAID,
        remote_source_sdk=JS_SDK,
        pairing=env.method == Method.PAIRING_REQUEST,
    )
    pos._state = SessionState.READY if env.method != Method.PAIRING_REQUEST else pos.state
    command: Any
    if env.type is not None and env.type.value in ("PING", "PONG"):
        command = Ping() if env.type.value == "PING" else Pong()
        inner = None
    else:
        assert env.method is not None
        command, _, inner = decode_payload(Method(env.method), env.payload)
    (out,) = pos.send(command, inner_version=inner)
    assert _strip_ids(out) == _strip_ids(frame["frame"])


@pytest.mark.parametrize("frame", DEVICE_FRAMES, ids=_ids(DEVICE_FRAMES))
def test_device_core_writes_the_frames_the_device_wrote(frame: dict[str, Any]) -> None:
    env = parse_envelope(frame["frame"], max_chars=10_000_000)
    device = RemotePayProtocol(Role.DEVICE)
    if env.method in ("PAIRING_CODE", "PAIRING_RESPONSE"):
        device._state = SessionState.PAIRING
    elif env.method == Method.DISCOVERY_RESPONSE:
        device._state = SessionState.PAIRED
    else:
        device._state = SessionState.TRANSACTION
    if env.method is None:
        assert env.type is not None
        command: Any = Ping() if env.type.value == "PING" else Pong()
    else:
        command, _, _ = decode_payload(Method(env.method), env.payload)
    (out,) = device.send(command)
    assert _strip_ids(out) == _strip_ids(frame["frame"])


def _mirror(event: Any) -> Any:
    if isinstance(event, PingReceived):
        return Ping()
    if isinstance(event, PongReceived):
        return Pong()
    assert isinstance(event, MessageReceived)
    assert isinstance(event.message, Message | UntypedMessage)
    return event.message


@pytest.mark.parametrize(
    "connection",
    [list(g) for _, g in groupby(FRAMES, key=lambda f: f["connection"])],
    ids=lambda c: f"connection-{c[0]['connection']}-{c[0]['session'][:9]}",
)
def test_replay_each_connection_through_both_roles(connection: list[dict[str, Any]]) -> None:
    """Feed POS frames to a device core and device frames to a POS core, in transcript
    order, while the other core sends the same messages: both session tables accept
    the whole real conversation."""
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID, remote_source_sdk=JS_SDK)
    device = RemotePayProtocol(Role.DEVICE)
    for frame in connection:
        if frame["direction"] == "pos_to_device":
            events = device.receive_data(frame["frame"])
            if not events:  # a fragment that is not the last one
                continue
            (event,) = events
            kwargs = {"attachment": event.attachment} if isinstance(event, MessageReceived) else {}
            if isinstance(event, MessageReceived) and isinstance(event.message, PrintImage):
                assert event.attachment is not None
                assert event.attachment.startswith("BwcHBwcH")
            pos.send(_mirror(event), **kwargs)
        else:
            (event,) = pos.receive_data(frame["frame"])
            device.send(_mirror(event))
        assert pos.state is device.state
    assert pos.state in (SessionState.READY, SessionState.PAIRED)
    assert pos.peer_version == 2


def test_envelope_without_payload_roundtrips() -> None:
    env = Envelope(id="x", method="SHOW_WELCOME_SCREEN")
    assert json.loads(encode_envelope(env)) == {"id": "x", "method": "SHOW_WELCOME_SCREEN"}
