from __future__ import annotations

import json

import pytest

from cloverpay.remotepay.protocol import (
    Envelope,
    FragmentLimits,
    MessageType,
    Reassembler,
    RemoteProtocolError,
    split_message,
)

BASE = Envelope(type=MessageType.COMMAND, id="56", method="PRINT_IMAGE", version=2)


def _frag(index: int, last: bool = False, mid: str = "56", **kw: object) -> Envelope:
    return Envelope(id=mid, method="PRINT_IMAGE", fragment_index=index, last_fragment=last, **kw)  # type: ignore[arg-type]


def test_split_like_the_js_sdk() -> None:
    payload = json.dumps({"method": "PRINT_IMAGE", "png": None})
    frags = split_message(BASE, payload, "A" * 2500, 1000)
    assert [f.fragment_index for f in frags] == [0, 1, 2, 3]
    assert [f.last_fragment for f in frags] == [False, False, False, True]
    assert frags[0].payload == payload
    assert frags[0].attachment_encoding == "BASE64"
    assert all(f.payload is None for f in frags[1:])
    assert {f.attachment_encoding for f in frags[1:]} == {"BASE64.ATTACHMENT"}
    assert "".join(f.attachment or "" for f in frags) == "A" * 2500


def test_long_payload_without_attachment() -> None:
    frags = split_message(BASE, "x" * 2001, None, 1000)
    assert len(frags) == 3
    assert all(f.attachment_encoding is None for f in frags)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
def test_reassembles_in_any_order(order: list[int]) -> None:
    frags = split_message(BASE, '{"a":1}', "B" * 30, 10)
    r = Reassembler(FragmentLimits())
    results = [r.add(frags[i]) for i in order]
    assert results[:-1] == [None] * (len(order) - 1)
    whole = results[-1]
    assert whole is not None
    assert whole.payload == '{"a":1}'
    assert whole.attachment == "B" * 30
    assert whole.fragment_index is None
    assert r.pending == 0


@pytest.mark.parametrize(
    ("fragments", "match"),
    [
        ([_frag(0), _frag(0)], "twice"),
        ([_frag(-1)], "outside"),
        ([_frag(5000)], "outside"),
        ([_frag(0, mid=None)], "id"),  # type: ignore[arg-type]
        ([_frag(0), Envelope(id="56", method="PRINT_TEXT", fragment_index=1)], "different"),
        ([_frag(2), _frag(1, last=True)], "after the last"),
        ([_frag(1, last=True), _frag(2)], "after the last"),
        ([_frag(0, payload="x" * 60), _frag(1, payload="y" * 60)], "exceeds"),
        ([_frag(0, mid=str(i)) for i in range(5)], "at once"),
    ],
)
def test_malformed_fragments(fragments: list[Envelope], match: str) -> None:
    r = Reassembler(FragmentLimits(max_message_chars=100, max_pending_messages=4))
    for frag in fragments[:-1]:
        r.add(frag)
    with pytest.raises(RemoteProtocolError, match=match):
        r.add(fragments[-1])
    assert r.pending <= 4


def test_a_failed_message_is_dropped_and_the_next_one_works() -> None:
    r = Reassembler(FragmentLimits())
    r.add(_frag(0))
    with pytest.raises(RemoteProtocolError):
        r.add(_frag(0))
    assert r.pending == 0
    assert r.add(_frag(0, last=True, payload="{}")) is not None


def test_expire_finishes_contiguous_and_drops_gaps() -> None:
    r = Reassembler(FragmentLimits())
    r.add(_frag(0, mid="a", payload='{"x":'), now=0.0)
    r.add(_frag(1, mid="a", payload="1}"), now=1.0)
    r.add(_frag(0, mid="b"), now=0.0)
    r.add(_frag(2, mid="b"), now=0.5)
    r.add(_frag(0, mid="c"))  # no clock: never expires
    assert r.expire(now=1.5, idle=2.0) == ([], [])
    finished, dropped = r.expire(now=3.0, idle=2.0)
    assert [(env.payload, n) for env, n in finished] == [('{"x":1}', 2)]
    assert dropped == [("b", 2)]
    assert r.pending == 1
    r.clear()
    assert r.pending == 0
