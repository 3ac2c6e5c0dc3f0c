from __future__ import annotations

import json

import pytest

from cloverpay.remotepay import protocol
from cloverpay.remotepay.protocol import (
    DIRECTION,
    MESSAGE_CLASSES,
    CardDataResponse,
    FinishOk,
    Method,
    PairingRequest,
    PairingResponse,
    PayIntent,
    Payment,
    RemoteProtocolError,
    TransactionType,
    TxStart,
    TxStartResponse,
    UntypedMessage,
    decode_payload,
    encode_payload,
)


def test_all_115_methods_are_known() -> None:
    assert len(Method) == 115
    assert len({m.value for m in Method}) == 115
    assert all(m.name == m.value for m in Method)


def test_every_payload_class_is_registered_under_its_method() -> None:
    for method, cls in MESSAGE_CLASSES.items():
        assert cls.METHOD is method
    assert len(MESSAGE_CLASSES) >= 60


def test_directions_only_name_known_methods() -> None:
    assert set(DIRECTION) <= set(Method)


def test_exported_members_are_complete() -> None:
    public = {
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("cloverpay.remotepay.protocol")
    }
    assert public <= set(protocol.__all__)
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    for cls in MESSAGE_CLASSES.values():
        assert cls.__name__ in protocol.__all__


def test_required_fields_are_enforced_and_named() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_payload(Method.TX_START_RESPONSE, '{"success": true}')
    assert info.value.field == "payload.result"
    with pytest.raises(RemoteProtocolError, match="pairingState"):
        decode_payload(Method.PAIRING_RESPONSE, "{}")


def test_unknown_enum_value_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError, match="result"):
        decode_payload(Method.TX_START_RESPONSE, '{"result": "MAYBE"}')


def test_unknown_fields_are_kept_and_written_back() -> None:
    msg, _, _ = decode_payload(
        Method.FINISH_OK,
        '{"payment": {"id": "P1", "newThing": {"x": 1}}, "requestInfo": "SALE", "extra": 2}',
    )
    assert isinstance(msg, FinishOk)
    assert msg.model_extra == {"extra": 2}
    assert msg.payment is not None
    assert msg.payment.model_extra == {"newThing": {"x": 1}}
    body = json.loads(encode_payload(msg))
    assert body["payment"]["newThing"] == {"x": 1}
    assert body["extra"] == 2


def test_payload_bookkeeping_is_read_and_written() -> None:
    msg, mid, version = decode_payload(
        Method.TX_START, '{"method": "TX_START", "messageId": "9", "version": 2, "payIntent": {}}'
    )
    assert (mid, version) == ("9", 2)
    out = encode_payload(msg, message_id="9", inner_version=2)
    assert out.startswith('{"method":"TX_START","messageId":"9","version":2,')


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ('{"method": "ACK"}', "payload.method"),
        ('{"messageId": [1]}', "payload.messageId"),
        ('{"version": "1"}', "payload.version"),
        ("[]", "payload"),
        ("{", "payload"),
    ],
)
def test_bad_bookkeeping(payload: str, field: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_payload(Method.BREAK, payload)
    assert info.value.field == field


def test_methods_without_a_model_parse_as_untyped() -> None:
    msg, _, _ = decode_payload(Method.VAS_STATE, '{"a": 1}')
    assert isinstance(msg, UntypedMessage)
    assert msg.fields == {"a": 1}
    assert "1" not in repr(msg)
    assert json.loads(encode_payload(msg)) == {"method": "VAS_STATE", "a": 1}


def test_only_set_fields_are_sent() -> None:
    msg = TxStart(pay_intent=PayIntent(amount=100, transaction_type=TransactionType.PAYMENT))
    assert json.loads(encode_payload(msg)) == {
        "method": "TX_START",
        "payIntent": {"amount": 100, "transactionType": "PAYMENT"},
    }


def test_empty_body() -> None:
    assert encode_payload(UntypedMessage(Method.BREAK)) == '{"method":"BREAK"}'


def test_elements_wrapper_both_ways() -> None:
    bare = Payment.model_validate({"id": "P", "refunds": [{"id": "R1"}]})
    wrapped = Payment.model_validate({"id": "P", "refunds": {"elements": [{"id": "R1"}]}})
    assert bare == wrapped
    assert bare.refunds is not None
    assert bare.refunds[0].id == "R1"
    assert bare.to_wire()["refunds"] == {"elements": [{"id": "R1"}]}
    assert Payment.model_validate({"id": "P", "taxRates": {}}).tax_rates == []


def test_tokens_and_card_data_stay_out_of_reprs() -> None:
    token = "HXKFRFrnwI7OHcsuOwBPrDbHvqczPaoP"
    pan = "4111111111111111"
    assert token not in repr(PairingRequest(authentication_token=token))
    assert token not in repr(PairingResponse(pairing_state="PAIRED", authentication_token=token))
    msg, _, _ = decode_payload(
        Method.CARD_DATA_RESPONSE, json.dumps({"cardData": {"pan": pan, "track2": pan}})
    )
    assert isinstance(msg, CardDataResponse)
    assert pan not in repr(msg)
    assert pan not in str(msg)


def test_validation_errors_do_not_echo_values() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_payload(Method.TIP_ADDED, '{"tipAmount": "4111111111111111x"}')
    assert "4111111111111111" not in str(info.value)


def test_many_errors_are_summarised() -> None:
    bad = {f"f{i}": 1 for i in range(3)} | {
        "payment": {"amount": "x", "tipAmount": "y", "taxAmount": "z", "offline": "w", "note": 1}
    }
    with pytest.raises(RemoteProtocolError, match="more"):
        decode_payload(Method.PAYMENT_CONFIRMED, json.dumps(bad))


def test_convenience_properties() -> None:
    assert PairingResponse(pairing_state="INITIAL").succeeded
    assert PairingResponse(pairing_state="FAILED").failed
    assert TxStartResponse(result="SUCCESS").accepted
    assert not TxStartResponse(result="DUPLICATE").accepted


@pytest.mark.parametrize("payload", ["{", "[1]", '"text"'])
def test_untyped_methods_still_need_a_json_object(payload: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_payload(Method.VAS_STATE, payload)
    assert info.value.field == "payload"


def test_untyped_payload_may_be_absent() -> None:
    msg, mid, version = decode_payload(Method.SHUTDOWN, None)
    assert msg == UntypedMessage(Method.SHUTDOWN, {})
    assert (mid, version) == (None, None)
