from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from cloverpay.remotepay.protocol import (
    CLOUD_PACKAGE_NAME,
    DiscoveryRequest,
    DiscoveryResponse,
    FinishOk,
    FragmentedMessageDropped,
    FragmentLimits,
    LocalProtocolError,
    MessageReceived,
    Method,
    PairingRequest,
    PairingResponse,
    Ping,
    PingReceived,
    Pong,
    PongReceived,
    PrintImage,
    RemotePayProtocol,
    RemoteProtocolError,
    Role,
    SessionState,
    TerminalMessage,
    TxStart,
    UnknownMessageReceived,
    UntypedMessage,
    decode_payload,
)
from cloverpay.remotepay.protocol import PayIntent as PI

RAID = "com.example.pos:1.0"


def pair() -> tuple[RemotePayProtocol, RemotePayProtocol]:
    """A POS and a device core, paired and ready."""
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID)
    device = RemotePayProtocol(Role.DEVICE)
    talk(pos, device, PairingRequest(name="POS", serial_number="R1"))
    talk(device, pos, PairingResponse(pairing_state="PAIRED", authentication_token="tok"))
    talk(pos, device, DiscoveryRequest())
    talk(device, pos, DiscoveryResponse(ready=True, supports_acknowledgement=True))
    assert pos.state is device.state is SessionState.READY
    return pos, device


def talk(sender: RemotePayProtocol, receiver: RemotePayProtocol, msg: Any, **kw: Any) -> list[Any]:
    events: list[Any] = []
    for frame in sender.send(msg, **kw):
        events += receiver.receive_data(frame)
    return events


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="remote_application_id"):
        RemotePayProtocol(Role.POS)
    with pytest.raises(ValueError, match="max_version"):
        RemotePayProtocol(Role.DEVICE, max_version=3)
    with pytest.raises(ValueError, match="max_message_chars"):
        RemotePayProtocol(Role.DEVICE, max_message_chars=10)


def test_pairing_discovery_and_a_sale() -> None:
    pos, device = pair()
    (ev,) = talk(pos, device, TxStart(pay_intent=PI(amount=100), request_info="SALE"))
    assert isinstance(ev, MessageReceived)
    assert ev.message_id == "3"
    assert ev.inner_version == 2
    assert device.state is SessionState.TRANSACTION
    (ack,) = device.ack(ev)
    assert json.loads(json.loads(ack)["payload"])["sourceMessageId"] == "3"
    pos.receive_data(ack)
    with pytest.raises(LocalProtocolError, match="TX_START"):
        pos.send(TxStart(pay_intent=PI(amount=1)))
    (done,) = talk(device, pos, FinishOk(request_info="SALE"))
    assert isinstance(done.message, FinishOk)
    assert pos.state is SessionState.READY


def test_envelope_version_is_learned_from_the_device() -> None:
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID)
    device = RemotePayProtocol(Role.DEVICE)
    assert (pos.outbound_version, device.outbound_version) == (1, 2)
    (frame,) = pos.send(PairingRequest())
    assert json.loads(frame)["version"] == 1
    device.receive_data(frame)
    assert device.peer_version == 1
    talk(device, pos, PairingResponse(pairing_state="PAIRED"))
    assert pos.peer_version == pos.outbound_version == 2
    (frame,) = pos.send(DiscoveryRequest())
    assert json.loads(frame)["version"] == 2


def test_pos_fragments_large_messages_once_version_2_is_known() -> None:
    pos, device = pair()
    text = "x" * 120_000
    frames = pos.send(TerminalMessage(text=text))
    assert len(frames) == 3
    events = [e for f in frames for e in device.receive_data(f, now=0.0)]
    (ev,) = events
    assert ev.message == TerminalMessage(text=text)


def test_version_1_sends_whole_messages_and_refuses_attachments() -> None:
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID, pairing=False)
    old_device = RemotePayProtocol(Role.DEVICE, pairing=False, max_version=1)
    talk(old_device, pos, DiscoveryResponse(ready=True))
    assert pos.outbound_version == 1
    frames = pos.send(TerminalMessage(text="x" * 120_000))
    assert len(frames) == 1
    with pytest.raises(LocalProtocolError, match="inline"):
        pos.send(PrintImage(), attachment="QUJD")


def test_image_attachment_travels_in_fragments() -> None:
    pos, device = pair()
    att = "iVBORw0KGgo" * 10_000
    frames = pos.send(PrintImage(external_print_job_id="j1"), attachment=att)
    assert len(frames) == 4
    assert json.loads(frames[0])["attachmentEncoding"] == "BASE64"
    assert [json.loads(f)["lastFragment"] for f in frames] == [False, False, False, True]
    events = [e for f in frames for e in device.receive_data(f)]
    (ev,) = events
    assert ev.attachment == att
    assert ev.message.external_print_job_id == "j1"


def test_device_never_sends_attachments() -> None:
    _, device = pair()
    with pytest.raises(LocalProtocolError, match="attachment"):
        device.send(UntypedMessage(Method.PRINT_PAYMENT), attachment="QQ")


def test_direction_is_enforced_both_ways() -> None:
    pos, device = pair()
    with pytest.raises(LocalProtocolError, match="never sent by the DEVICE"):
        device.send(TxStart(pay_intent=PI()))
    with pytest.raises(LocalProtocolError, match="never sent by the POS"):
        pos.send(FinishOk())
    forged = RemotePayProtocol(Role.POS, remote_application_id=RAID, pairing=False)
    pos_frame = forged.send(DiscoveryRequest())[0]
    with pytest.raises(RemoteProtocolError, match="never sent by the DEVICE"):
        pos.receive_data(pos_frame)
    assert pos.state is SessionState.READY


def test_out_of_state_messages_are_refused() -> None:
    ready_pos, _ = pair()
    (frame,) = ready_pos.send(TxStart(pay_intent=PI()))
    # a fresh, unpaired device refuses a TX_START queued before pairing
    device = RemotePayProtocol(Role.DEVICE)
    with pytest.raises(RemoteProtocolError, match="TX_START in session state CONNECTED"):
        device.receive_data(frame)
    assert device.state is SessionState.CONNECTED
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID)
    with pytest.raises(LocalProtocolError, match="CONNECTED"):
        pos.send(DiscoveryRequest())


def test_unknown_methods_and_methodless_frames_are_surfaced_not_fatal() -> None:
    pos, _ = pair()
    (ev,) = pos.receive_data('{"id":"d9","type":"COMMAND","method":"BRAND_NEW","payload":"{}"}')
    assert isinstance(ev, UnknownMessageReceived)
    assert ev.method == "BRAND_NEW"
    (ev,) = pos.receive_data('{"forceConnect": true}')
    assert isinstance(ev, UnknownMessageReceived)
    assert ev.method is None
    assert pos.state is SessionState.READY


def test_cloud_connection_control() -> None:
    pos = RemotePayProtocol(
        Role.POS, remote_application_id=RAID, pairing=False, package_name=CLOUD_PACKAGE_NAME
    )
    frame = json.dumps(
        {"type": "EVENT", "method": "FORCECONNECT", "payload": json.dumps({"friendlyId": "x"})}
    )
    (ev,) = pos.receive_data(frame)
    assert isinstance(ev.message, UntypedMessage)
    assert ev.message.fields == {"friendlyId": "x"}
    (out,) = pos.send(UntypedMessage(Method.SHUTDOWN))
    assert json.loads(out)["packageName"] == CLOUD_PACKAGE_NAME


def test_heartbeat() -> None:
    pos, device = pair()
    (ping,) = pos.send(Ping())
    assert json.loads(ping) == {
        "type": "PING",
        "packageName": "com.clover.remote_protocol_broadcast.app",
        "remoteSourceSDK": "com.clover.cloverconnector.python:0.1.0",
        "remoteApplicationID": RAID,
    }
    assert device.receive_data(ping) == [PingReceived(None)]
    (pong,) = device.send(Pong())
    (ev,) = pos.receive_data(pong)
    assert isinstance(ev, PongReceived)
    assert ev.message_id is not None


def test_closed_connection_refuses_everything() -> None:
    pos, _ = pair()
    pos.connection_closed()
    assert pos.state is SessionState.CLOSED
    with pytest.raises(LocalProtocolError):
        pos.send(Ping())
    with pytest.raises(LocalProtocolError):
        pos.receive_data('{"type":"PING"}')


def test_ack_without_id_produces_nothing() -> None:
    _, device = pair()
    assert device.ack(MessageReceived(UntypedMessage(Method.BREAK))) == []


def test_send_refuses_non_messages_and_unserialisable_fields() -> None:
    pos, _ = pair()
    with pytest.raises(LocalProtocolError, match="cannot send"):
        pos.send("TX_START")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="cannot be encoded"):
        pos.send(TerminalMessage(text="x", weird=object()))  # type: ignore[call-arg]
    assert pos.state is SessionState.READY


def test_expire_fragments_through_the_core() -> None:
    pos, device = pair()
    frames = pos.send(TerminalMessage(text="y" * 60_000))
    first = json.loads(frames[0])
    second = json.loads(frames[1])
    second["lastFragment"] = False  # an SDK that never says "last"
    device.receive_data(json.dumps(first), now=0.0)
    device.receive_data(json.dumps(second), now=0.1)
    orphan = dict(first, id="99", fragmentIndex=3)
    device.receive_data(json.dumps(orphan), now=0.0)
    assert device.pending_fragments == 2
    events = device.expire_fragments(now=5.0, idle=2.0)
    assert FragmentedMessageDropped("99", 1) in events
    (done,) = [e for e in events if isinstance(e, MessageReceived)]
    assert done.message == TerminalMessage(text="y" * 60_000)


def test_fragment_limits_are_configurable() -> None:
    device = RemotePayProtocol(Role.DEVICE, limits=FragmentLimits(max_frame_chars=100))
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        device.receive_data('{"id":"' + "1" * 200 + '"}')


def test_pairing_failure_allows_a_new_request() -> None:
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID)
    device = RemotePayProtocol(Role.DEVICE)
    talk(pos, device, PairingRequest())
    talk(device, pos, PairingResponse(pairing_state="FAILED"))
    assert pos.state is SessionState.CONNECTED
    talk(pos, device, PairingRequest())
    assert pos.state is SessionState.PAIRING


def test_message_ids_and_payload_bookkeeping_follow_the_role() -> None:
    pos = RemotePayProtocol(Role.POS, remote_application_id=RAID, pairing=False)
    (frame,) = pos.send(DiscoveryRequest())
    body = json.loads(json.loads(frame)["payload"])
    assert (json.loads(frame)["id"], body["messageId"], body["version"]) == ("1", "1", 0)
    device = RemotePayProtocol(Role.DEVICE, pairing=False)
    (frame,) = device.send(DiscoveryResponse(ready=True))
    body = json.loads(json.loads(frame)["payload"])
    assert json.loads(frame)["id"] == "d1"
    assert "messageId" not in body
    assert body["version"] == 1


def test_expired_message_that_is_not_acceptable_is_reported_dropped() -> None:
    pos, _ = pair()
    frag = {"id": "7", "type": "COMMAND", "method": "TX_START", "payload": "{}"}
    pos.receive_data(json.dumps(frag | {"fragmentIndex": 0, "lastFragment": False}), now=0.0)
    (ev,) = pos.expire_fragments(now=3.0)
    assert isinstance(ev, FragmentedMessageDropped)
    assert ev.message_id == "7"
    assert "never sent by the DEVICE" in ev.reason


def test_inspection_properties() -> None:
    pos, device = pair()
    assert (pos.role, device.role) == (Role.POS, Role.DEVICE)
    (frame,) = pos.send(TerminalMessage(text="x"))
    assert pos.last_sent_id == json.loads(frame)["id"] == "3"
    pos.send(Ping())
    assert pos.last_sent_id is None
    device.send(Pong())
    assert device.last_sent_id is not None
    assert device.last_sent_id.startswith("d")


def test_payload_message_id_can_be_switched() -> None:
    pos = RemotePayProtocol(
        Role.POS, remote_application_id=RAID, pairing=False, payload_message_id=False
    )
    (frame,) = pos.send(DiscoveryRequest())
    assert "messageId" not in json.loads(json.loads(frame)["payload"])
    assert UntypedMessage(Method.BREAK, {"a": 1}).to_wire() == {"a": 1}


def test_unknown_fields_are_logged_by_name_only(caplog: pytest.LogCaptureFixture) -> None:
    pos, device = pair()
    secret = "4111111111111111"
    frame = device.send(UntypedMessage(Method.TIP_ADDED, {"tipAmount": 5, "cardNumber": secret}))
    with caplog.at_level(logging.DEBUG, logger="cloverpay.remotepay.protocol"):
        (event,) = pos.receive_data(frame[0])
    assert event.message.model_extra == {"cardNumber": secret}
    assert "cardNumber" in caplog.text
    assert secret not in caplog.text


def test_message_received_factory_builds_the_same_frozen_event() -> None:
    from dataclasses import FrozenInstanceError

    from cloverpay.remotepay.protocol._events import MessageReceived, message_received

    msg = UntypedMessage(Method.CLEAR_SESSION, {})
    event = message_received(msg, "7", 2, 1, None)
    assert event == MessageReceived(msg, "7", 2, 1, None)
    assert repr(event) == repr(MessageReceived(msg, "7", 2, 1, None))
    with pytest.raises(FrozenInstanceError):
        event.version = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ('"method":"TX_STATE",', "payload.method"),
        ('"messageId":true,', "payload.messageId"),
        ('"messageId":1.5,', "payload.messageId"),
        ('"messageId":["1"],', "payload.messageId"),
        ('"version":"2",', "payload.version"),
        ('"version":true,', "payload.version"),
        ('"version":2.0,', "payload.version"),
        ('"messageId":"7","version":2,"method":"TX_STATE",', "payload.method"),
        ("", None),
        ('"method":"{M}","messageId":7,"version":null,', None),
        ('"messageId":null,"method":null,"version":3,"future":1,', None),
    ],
)
@pytest.mark.parametrize("typed", [True, False])
def test_payload_bookkeeping_is_checked_on_receipt(
    keys: str, field: str | None, typed: bool
) -> None:
    """The core's receive path checks the payload's ``method`` / ``messageId`` /
    ``version`` as ``decode_payload`` does, typed payload or not."""
    method, body = ("KEY_PRESS", '"keyPress":"ESC"') if typed else ("CLEAR_SESSION", '"a":1')
    payload = "{" + keys.replace("{M}", method) + body + "}"
    frame = json.dumps({"id": "5", "type": "COMMAND", "method": method, "payload": payload})
    device = RemotePayProtocol(Role.DEVICE, pairing=False)
    device._state = SessionState.READY
    if field is not None:
        with pytest.raises(RemoteProtocolError) as info:
            device.receive_data(frame)
        assert (info.value.field, info.value.message_id) == (field, "5")
        with pytest.raises(RemoteProtocolError) as direct:
            decode_payload(Method(method), payload, message_id="5")
        assert str(direct.value) == str(info.value)
        return
    (event,) = device.receive_data(frame)
    message, _inner_id, inner_version = decode_payload(Method(method), payload, message_id="5")
    assert event.message == message
    assert event.inner_version == inner_version
    if typed:
        assert event.message.model_fields_set == message.model_fields_set
        assert not {"method", "messageId", "version"} & event.message.model_fields_set
