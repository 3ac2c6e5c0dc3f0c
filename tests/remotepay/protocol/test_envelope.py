from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloverpay.remotepay.protocol import (
    Envelope,
    MessageType,
    RemoteProtocolError,
    encode_envelope,
    parse_envelope,
)
from cloverpay.remotepay.protocol._envelope import _parse_any, envelope_of, parse_common

MAX = 1_000_000


def test_parses_every_known_field_and_keeps_unknown_ones() -> None:
    frame = json.dumps(
        {
            "id": "7",
            "type": "COMMAND",
            "packageName": "p",
            "method": "ACK",
            "payload": "{}",
            "version": 2,
            "remoteSourceSDK": "s",
            "remoteApplicationID": "r",
            "fragmentIndex": 0,
            "lastFragment": True,
            "attachmentEncoding": "BASE64",
            "attachment": "QUJD",
            "attachmentUri": "https://example.invalid/x.png",
            "remotePayCompatibilityVersion": 1,
            "futureField": {"a": 1},
        }
    )
    env = parse_envelope(frame, max_chars=MAX)
    assert env.type is MessageType.COMMAND
    assert env.fragment_index == 0
    assert env.last_fragment is True
    assert env.remote_pay_compatibility_version == 1
    assert env.extra == {"futureField": {"a": 1}}
    assert json.loads(encode_envelope(env)) == json.loads(frame)


def test_numeric_id_is_read_as_a_string() -> None:
    assert parse_envelope('{"id": 12, "type": "PING"}', max_chars=MAX).id == "12"


def test_windows_pairing_request_without_id_or_type() -> None:
    env = parse_envelope('{"method": "PAIRING_REQUEST", "payload": "{}"}', max_chars=MAX)
    assert env.id is None
    assert env.type is None


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ('{"id": true}', "id"),
        ('{"id": [1]}', "id"),
        ('{"type": "NOPE"}', "type"),
        ('{"type": 3}', "type"),
        ('{"method": 5}', "method"),
        ('{"payload": {"a": 1}}', "payload"),
        ('{"version": "2"}', "version"),
        ('{"version": true}', "version"),
        ('{"fragmentIndex": 1.5}', "fragmentIndex"),
        ('{"lastFragment": "yes"}', "lastFragment"),
        ('{"attachment": 1}', "attachment"),
    ],
)
def test_wrong_types_name_the_field(frame: str, field: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_envelope(frame, max_chars=MAX)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize("frame", ["", "nope", "[1, 2]", "1", "null", '"x"', '{"a": '])
def test_not_a_json_object(frame: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_envelope(frame, max_chars=MAX)


def test_deep_nesting_is_refused_not_crashing() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_envelope("[" * 100_000 + "]" * 100_000, max_chars=10**7)


def test_frame_size_limit() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        parse_envelope('{"id": "' + "x" * 100 + '"}', max_chars=50)


def test_bytes_are_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="text"):
        parse_envelope(b'{"id": "1"}', max_chars=MAX)  # type: ignore[arg-type]


def test_error_messages_do_not_echo_values() -> None:
    secret = "4111111111111111"
    with pytest.raises(RemoteProtocolError) as info:
        parse_envelope(json.dumps({"id": "1", "type": secret}), max_chars=MAX)
    assert secret not in str(info.value)


def test_encode_leaves_out_unset_fields_but_keeps_null_payload_on_fragments() -> None:
    assert encode_envelope(Envelope(type=MessageType.PING)) == '{"type":"PING"}'
    frag = encode_envelope(Envelope(id="1", fragment_index=1, last_fragment=True, attachment="QQ"))
    assert json.loads(frag) == {
        "id": "1",
        "payload": None,
        "fragmentIndex": 1,
        "lastFragment": True,
        "attachment": "QQ",
    }


# -- the common-frame fast path agrees with the general parser ------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=2),
)
_KEYS = st.sampled_from(
    [
        "id",
        "type",
        "packageName",
        "method",
        "payload",
        "version",
        "remoteSourceSDK",
        "remoteApplicationID",
        "fragmentIndex",
        "lastFragment",
        "attachment",
        "other",
    ]
)
_TYPES = st.sampled_from(["COMMAND", "PING", "PONG", "EVENT", "QUERY", "command", "X"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEYS, st.one_of(_VALUES, _TYPES), max_size=8))
def test_common_path_accepts_only_what_the_general_parser_accepts(body: dict[str, Any]) -> None:
    frame = json.dumps(body)
    raw = parse_common(frame, max_chars=MAX)
    try:
        general = _parse_any(frame, MAX)
    except RemoteProtocolError:
        assert raw is None  # the fast path never lets through what the parser refuses
        return
    if raw is not None:
        assert envelope_of(raw) == general


def test_common_path_agrees_on_every_transcript_frame(transcript: list[dict[str, Any]]) -> None:
    common = {"id", "type", "packageName", "method", "payload", "version"}
    common |= {"remoteSourceSDK", "remoteApplicationID"}
    for frame in (f["frame"] for f in transcript):
        raw = parse_common(frame, max_chars=MAX)
        if set(json.loads(frame)) <= common:  # no fragments, attachments, unknown keys
            assert raw is not None
            assert envelope_of(raw) == _parse_any(frame, MAX)
        else:
            assert raw is None
        assert parse_envelope(frame, max_chars=MAX) == _parse_any(frame, MAX)


def test_common_path_leaves_oversized_and_non_text_frames_to_the_general_parser() -> None:
    assert parse_common('{"id": "1"}', max_chars=5) is None
    assert parse_common(b'{"id": "1"}', max_chars=MAX) is None  # type: ignore[arg-type]
