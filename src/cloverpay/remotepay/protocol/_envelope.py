"""The ``RemoteMessage`` envelope: parse one text frame, write one text frame.

Parsing is strict about types (a field of the wrong JSON type is a
:class:`RemoteProtocolError` naming it) and lenient about presence: every field is
optional on the wire (Windows sends no ``id``/``type`` on PAIRING_REQUEST, PING/PONG
carry no ``method``/``payload``). Unknown envelope keys are kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from pydantic_core import SchemaValidator, ValidationError, from_json, to_json
from pydantic_core import core_schema as cs

from ._enums import MessageType
from ._errors import RemoteProtocolError

__all__ = [
    "CLOUD_PACKAGE_NAME",
    "SNPD_PACKAGE_NAME",
    "Envelope",
    "encode_envelope",
    "envelope_of",
    "parse_common",
    "parse_envelope",
]

SNPD_PACKAGE_NAME: Final = "com.clover.remote_protocol_broadcast.app"
"""``packageName`` on a direct (Secure Network Pay Display) connection."""
CLOUD_PACKAGE_NAME: Final = "com.clover.remote.protocol.websocket"
"""``packageName`` on the cloud (Cloud Pay Display) connection."""

# wire name -> attribute; bool is checked apart from int (JSON true is not a number).
_STR_FIELDS: Final[dict[str, str]] = {
    "packageName": "package_name",
    "method": "method",
    "payload": "payload",
    "remoteSourceSDK": "remote_source_sdk",
    "remoteApplicationID": "remote_application_id",
    "attachmentEncoding": "attachment_encoding",
    "attachment": "attachment",
    "attachmentUri": "attachment_uri",
}
_INT_FIELDS: Final[dict[str, str]] = {
    "version": "version",
    "fragmentIndex": "fragment_index",
    "remotePayCompatibilityVersion": "remote_pay_compatibility_version",
}
_TYPES: Final = {t.value: t for t in MessageType}
_ATTRS: Final = {**_STR_FIELDS, **_INT_FIELDS}
_NAMES: Final = {str: "a string", int: "an integer"}
_FIELDS: Final[dict[str, type]] = {
    "id": object,  # checked before the loop
    "type": MessageType,
    "lastFragment": bool,
    **dict.fromkeys(_STR_FIELDS, str),
    **dict.fromkeys(_INT_FIELDS, int),
}


@dataclass(slots=True)
class Envelope:
    """One frame. ``method`` is the raw wire string (it may name an unknown method).

    Read-only by convention: not a frozen dataclass, because a frozen one costs about
    3 µs more to build, on every frame received."""

    type: MessageType | None = None
    id: str | None = None
    method: str | None = None
    payload: str | None = field(default=None, repr=False)
    version: int | None = None
    package_name: str | None = None
    remote_source_sdk: str | None = None
    remote_application_id: str | None = None
    fragment_index: int | None = None
    last_fragment: bool | None = None
    attachment_encoding: str | None = None
    attachment: str | None = field(default=None, repr=False)
    attachment_uri: str | None = None
    remote_pay_compatibility_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _fail(msg: str, field_name: str | None = None, message_id: str | None = None) -> NoReturn:
    raise RemoteProtocolError(msg, field=field_name, message_id=message_id)


def _optional(schema: cs.CoreSchema) -> cs.TypedDictField:
    return cs.typed_dict_field(cs.nullable_schema(schema), required=False)


def _common_envelope_validator() -> SchemaValidator:
    """The usual frame (COMMAND/PING/PONG, no fragments, attachments or unknown keys),
    every field type-checked in one pass in pydantic-core. Anything else fails it and
    goes through the general parser, which also words the errors."""
    text = cs.str_schema(strict=True)
    fields = {wire: _optional(text) for wire in ("packageName", "method", "payload")}
    fields |= {wire: _optional(text) for wire in ("remoteSourceSDK", "remoteApplicationID")}
    fields["version"] = _optional(cs.int_schema(strict=True))
    fields["type"] = _optional(cs.enum_schema(MessageType, list(MessageType), sub_type="str"))
    int_id = cs.no_info_after_validator_function(str, cs.int_schema(strict=True))
    fields["id"] = _optional(cs.union_schema([text, int_id]))
    return SchemaValidator(cs.typed_dict_schema(fields, extra_behavior="forbid"))


_COMMON: Final = _common_envelope_validator()


def parse_envelope(text: str, *, max_chars: int) -> Envelope:
    """Parse one text frame into an :class:`Envelope` (the payload stays a string)."""
    raw = parse_common(text, max_chars=max_chars)
    return _parse_any(text, max_chars) if raw is None else envelope_of(raw)


def parse_common(text: str, *, max_chars: int) -> dict[str, Any] | None:
    """The usual frame as a dict of its (type-checked) wire fields, or None when the
    frame needs :func:`parse_envelope`'s general path (which words any error)."""
    if type(text) is not str or len(text) > max_chars:
        return None
    try:
        raw: dict[str, Any] = _COMMON.validate_json(text)
    except ValidationError:
        return None
    return raw


def envelope_of(raw: dict[str, Any]) -> Envelope:
    """An :class:`Envelope` from :func:`parse_common`'s dict."""
    get = raw.get
    return Envelope(
        type=get("type"),
        id=get("id"),
        method=get("method"),
        payload=get("payload"),
        version=get("version"),
        package_name=get("packageName"),
        remote_source_sdk=get("remoteSourceSDK"),
        remote_application_id=get("remoteApplicationID"),
    )


def _parse_any(text: str, max_chars: int) -> Envelope:
    """Any frame, field by field (fragments, attachments, unknown keys, errors)."""
    if not isinstance(text, str):
        raise RemoteProtocolError(f"frame must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise RemoteProtocolError(f"frame of {len(text)} chars exceeds the limit of {max_chars}")
    try:
        raw = from_json(text, cache_strings="keys")
    except (ValueError, RecursionError) as exc:
        raise RemoteProtocolError(f"frame is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise RemoteProtocolError(f"frame must be a JSON object, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    extra: dict[str, Any] | None = None
    mid = raw.get("id")
    if mid is not None:
        if isinstance(mid, bool) or not isinstance(mid, str | int):
            _fail("envelope field 'id' must be a string", "id")
        mid = str(mid)
    for wire, value in raw.items():
        kind = _FIELDS.get(wire)
        if kind is None:
            if extra is None:
                extra = values["extra"] = {}
            extra[wire] = value
        elif value is None:
            continue
        elif kind is str or kind is int:
            # from_json gives exact types, so ``type() is`` suffices (and keeps bool,
            # a subclass of int, out of integer fields)
            if type(value) is not kind:
                _fail(f"envelope field {wire!r} must be {_NAMES[kind]}", wire, mid)
            values[_ATTRS[wire]] = value
        elif kind is bool:
            if type(value) is not bool:
                _fail(f"envelope field {wire!r} must be a boolean", wire, mid)
            values["last_fragment"] = value
        elif kind is MessageType:
            mtype = _TYPES.get(value) if isinstance(value, str) else None
            if mtype is None:
                _fail("envelope field 'type' is not a known message type", "type", mid)
            values["type"] = mtype
    values["id"] = mid
    return Envelope(**values)


def encode_envelope(env: Envelope) -> str:
    """Write an envelope as compact JSON, fields in the official SDKs' order; ``None``
    fields are left out, except ``payload`` on attachment fragments (``null``, as JS)."""
    out: dict[str, Any] = {}
    if env.id is not None:
        out["id"] = env.id
    if env.type is not None:
        out["type"] = env.type  # a StrEnum: written as its name
    if env.package_name is not None:
        out["packageName"] = env.package_name
    if env.method is not None:
        out["method"] = env.method
    if env.payload is not None or env.fragment_index is not None:
        out["payload"] = env.payload
    if env.remote_source_sdk is not None:
        out["remoteSourceSDK"] = env.remote_source_sdk
    if env.remote_application_id is not None:
        out["remoteApplicationID"] = env.remote_application_id
    if env.version is not None:
        out["version"] = env.version
    if env.fragment_index is not None:
        out["fragmentIndex"] = env.fragment_index
    if env.last_fragment is not None:
        out["lastFragment"] = env.last_fragment
    if env.attachment_encoding is not None:
        out["attachmentEncoding"] = env.attachment_encoding
    if env.attachment is not None:
        out["attachment"] = env.attachment
    if env.attachment_uri is not None:
        out["attachmentUri"] = env.attachment_uri
    if env.remote_pay_compatibility_version is not None:
        out["remotePayCompatibilityVersion"] = env.remote_pay_compatibility_version
    out.update(env.extra)
    return to_json(out).decode()
