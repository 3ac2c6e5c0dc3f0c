"""Events the core gives out (``receive_data``) and the heartbeat commands it takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._message import Message, UntypedMessage

__all__ = [
    "Event",
    "FragmentedMessageDropped",
    "MessageReceived",
    "Ping",
    "PingReceived",
    "Pong",
    "PongReceived",
    "UnknownMessageReceived",
]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A COMMAND from the peer, parsed. ``message_id`` is the envelope id (what an ACK
    names); ``attachment`` is the reassembled base64 attachment, if any."""

    message: Message | UntypedMessage
    message_id: str | None = None
    version: int | None = None
    inner_version: int | None = None
    attachment: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PingReceived:
    """An application-level PING: answer it with ``send(Pong())``."""

    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class PongReceived:
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class UnknownMessageReceived:
    """A frame this core cannot place: a ``method`` outside the 115 known names, or no
    ``method`` on a frame that is not PING/PONG (e.g. the cloud proxy's legacy
    force-connect frame). The session state is unchanged; the SDKs ignore these too."""

    method: str | None
    type: str | None
    message_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class FragmentedMessageDropped:
    """A fragmented message was given up by ``expire_fragments``: it never completed,
    or it completed by timeout but was not acceptable (``reason`` says why)."""

    message_id: str
    fragments: int
    reason: str = "incomplete"


Event = (
    MessageReceived
    | PingReceived
    | PongReceived
    | UnknownMessageReceived
    | (FragmentedMessageDropped)
)


@dataclass(frozen=True, slots=True)
class Ping:
    """Command: send an application-level PING."""


@dataclass(frozen=True, slots=True)
class Pong:
    """Command: answer a PING."""


_new = object.__new__
_SLOTS: Mapping[str, Any] = MessageReceived.__dict__  # the slot descriptors
_set_message = _SLOTS["message"].__set__
_set_message_id = _SLOTS["message_id"].__set__
_set_version = _SLOTS["version"].__set__
_set_inner_version = _SLOTS["inner_version"].__set__
_set_attachment = _SLOTS["attachment"].__set__


def message_received(
    message: Message | UntypedMessage,
    message_id: str | None,
    version: int | None,
    inner_version: int | None,
    attachment: str | None,
) -> MessageReceived:
    """``MessageReceived(...)`` for the core's receive path, every field given: the
    slots are filled directly (a frozen dataclass's ``__init__`` goes through
    ``object.__setattr__`` per field, about twice the cost, on every frame)."""
    event: MessageReceived = _new(MessageReceived)
    _set_message(event, message)
    _set_message_id(event, message_id)
    _set_version(event, version)
    _set_inner_version(event, inner_version)
    _set_attachment(event, attachment)
    return event
