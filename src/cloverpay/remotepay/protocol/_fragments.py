"""Fragmentation (envelope version ≥ 2): split outbound messages, reassemble inbound.

Reassembly is bounded so that malformed or hostile input cannot hang the receiver or
exhaust its memory: a cap on fragments per message, on the characters buffered per
message, and on messages being reassembled at once. Anything over a limit is a
:class:`RemoteProtocolError` and the partial message is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from ._envelope import Envelope
from ._errors import RemoteProtocolError

__all__ = ["ATTACHMENT_ENCODING", "FragmentLimits", "Reassembler", "split_message"]

ATTACHMENT_ENCODING: Final = "BASE64.ATTACHMENT"
PAYLOAD_ENCODING: Final = "BASE64"


@dataclass(frozen=True, slots=True)
class FragmentLimits:
    """Bounds on inbound frames and reassembly (defaults fit the SDKs' 10 000 000-char
    attachment cap in 50 000-char chunks with room to spare)."""

    max_frame_chars: int = 12_000_000
    max_fragments: int = 1024
    max_message_chars: int = 12_000_000
    max_pending_messages: int = 8


@dataclass(slots=True)
class _Partial:
    first: Envelope
    started: float | None
    updated: float | None
    parts: dict[int, Envelope] = field(default_factory=dict)
    chars: int = 0
    last_index: int | None = None


class Reassembler:
    """Buffers fragments by envelope ``id`` until the message is complete."""

    def __init__(self, limits: FragmentLimits) -> None:
        self._limits = limits
        self._partials: dict[str, _Partial] = {}

    @property
    def pending(self) -> int:
        """How many messages are partly received."""
        return len(self._partials)

    def add(self, env: Envelope, now: float | None = None) -> Envelope | None:
        """Take one fragment; return the whole message once every fragment is in."""
        index = env.fragment_index
        assert index is not None
        mid = env.id
        if mid is None:
            raise RemoteProtocolError("a fragment must carry an envelope id", field="id")
        limits = self._limits
        if index < 0 or index >= limits.max_fragments:
            self._partials.pop(mid, None)
            raise RemoteProtocolError(
                f"fragmentIndex outside 0..{limits.max_fragments - 1}",
                field="fragmentIndex",
                message_id=mid,
            )
        partial = self._partials.get(mid)
        if partial is None:
            if len(self._partials) >= limits.max_pending_messages:
                raise RemoteProtocolError(
                    f"more than {limits.max_pending_messages} fragmented messages at once",
                    field="fragmentIndex",
                    message_id=mid,
                )
            partial = _Partial(first=env, started=now, updated=now)
            self._partials[mid] = partial
        elif env.method != partial.first.method:
            del self._partials[mid]
            raise RemoteProtocolError(
                "fragments of one message name different methods", field="method", message_id=mid
            )
        if index in partial.parts:
            del self._partials[mid]
            raise RemoteProtocolError(
                f"fragment {index} received twice", field="fragmentIndex", message_id=mid
            )
        partial.chars += len(env.payload or "") + len(env.attachment or "")
        if partial.chars > limits.max_message_chars:
            del self._partials[mid]
            raise RemoteProtocolError(
                f"fragmented message exceeds {limits.max_message_chars} chars",
                field="fragmentIndex",
                message_id=mid,
            )
        if env.last_fragment:
            if partial.last_index is not None or any(i > index for i in partial.parts):
                del self._partials[mid]
                raise RemoteProtocolError(
                    "fragments after the last fragment", field="lastFragment", message_id=mid
                )
            partial.last_index = index
        elif partial.last_index is not None and index > partial.last_index:
            del self._partials[mid]
            raise RemoteProtocolError(
                "fragments after the last fragment", field="fragmentIndex", message_id=mid
            )
        partial.parts[index] = env
        partial.updated = now
        if partial.last_index is not None and len(partial.parts) == partial.last_index + 1:
            del self._partials[mid]
            return _join(partial)
        return None

    def expire(
        self, now: float, idle: float
    ) -> tuple[list[tuple[Envelope, int]], list[tuple[str, int]]]:
        """Finish or drop messages idle for ``idle`` seconds (``now`` on the same clock
        as the ``now`` given to :meth:`add`).

        Android and Windows sometimes never set ``lastFragment`` (spec §3.1): a message
        whose fragments 0..n are all present is finished as it is; one with gaps is
        dropped. Returns ``([(message, fragments), ...], [(id, fragments), ...])``.
        """
        finished: list[tuple[Envelope, int]] = []
        dropped: list[tuple[str, int]] = []
        for mid in list(self._partials):
            partial = self._partials[mid]
            if partial.updated is None or now - partial.updated < idle:
                continue
            del self._partials[mid]
            if set(partial.parts) == set(range(len(partial.parts))):
                finished.append((_join(partial), len(partial.parts)))
            else:
                dropped.append((mid, len(partial.parts)))
        return finished, dropped

    def clear(self) -> None:
        self._partials.clear()


def _join(partial: _Partial) -> Envelope:
    ordered = [partial.parts[i] for i in sorted(partial.parts)]
    payload = "".join(p.payload for p in ordered if p.payload is not None)
    attachments = [p.attachment for p in ordered if p.attachment is not None]
    return replace(
        partial.first,
        payload=payload or None,
        attachment="".join(attachments) if attachments else None,
        fragment_index=None,
        last_fragment=None,
        attachment_encoding=None,
    )


def split_message(
    base: Envelope, payload: str, attachment: str | None, chunk_chars: int
) -> list[Envelope]:
    """Cut a message into fragments as the JS SDK does: payload chunks first (marked
    ``BASE64`` when an attachment follows), then attachment chunks with a null payload."""
    chunks: list[tuple[str | None, str | None]] = [
        (payload[i : i + chunk_chars], None) for i in range(0, len(payload), chunk_chars)
    ] or [("", None)]
    if attachment:
        chunks += [
            (None, attachment[i : i + chunk_chars]) for i in range(0, len(attachment), chunk_chars)
        ]
    last = len(chunks) - 1
    out = []
    for index, (part, att) in enumerate(chunks):
        if att is not None:
            encoding: str | None = ATTACHMENT_ENCODING
        else:
            encoding = PAYLOAD_ENCODING if attachment else None
        out.append(
            replace(
                base,
                payload=part,
                attachment=att,
                fragment_index=index,
                last_fragment=index == last,
                attachment_encoding=encoding,
            )
        )
    return out
