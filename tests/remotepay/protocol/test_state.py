"""The session transition table, checked as data and by property tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloverpay.remotepay.protocol import (
    TRANSITIONS,
    Ack,
    Break,
    DiscoveryRequest,
    DiscoveryResponse,
    FinishCancel,
    FinishOk,
    KeyPressMessage,
    LocalProtocolError,
    PairingCode,
    PairingRequest,
    PairingResponse,
    Party,
    PayIntent,
    RefundRequest,
    RefundResponse,
    RemotePayProtocol,
    RemoteProtocolError,
    ResetDeviceResponse,
    Role,
    SessionState,
    ShowWelcomeScreen,
    Trigger,
    TxStart,
    TxStartResponse,
    UiStateMessage,
    next_state,
)

POS_TRIGGERS = {
    Trigger.PAIRING_REQUEST,
    Trigger.DISCOVERY_REQUEST,
    Trigger.TX_START,
    Trigger.REFUND_REQUEST,
    Trigger.CONNECTION_CONTROL,
    Trigger.OTHER,
}
CLOSING = {Trigger.FINISH, Trigger.TX_START_REJECTED, Trigger.RESET_DEVICE_RESPONSE}


def test_closed_is_final() -> None:
    assert not [key for key in TRANSITIONS if key[0] is SessionState.CLOSED]
    assert SessionState.CLOSED not in TRANSITIONS.values()


def test_each_party_fires_only_its_own_triggers() -> None:
    for state, party, trigger in TRANSITIONS:
        if party is Party.POS:
            assert trigger in POS_TRIGGERS, (state, trigger)
        else:
            shared = {Trigger.OTHER, Trigger.CONNECTION_CONTROL}
            assert trigger not in POS_TRIGGERS - shared, (state, trigger)


def test_every_open_state_is_reachable_from_connected() -> None:
    seen = {SessionState.CONNECTED}
    frontier = [SessionState.CONNECTED]
    while frontier:
        state = frontier.pop()
        for (src, _, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(SessionState) - {SessionState.CLOSED}


def test_only_a_successful_pairing_leads_out_of_pairing() -> None:
    out = {
        (party, trigger): dst
        for (src, party, trigger), dst in TRANSITIONS.items()
        if src is SessionState.PAIRING and dst is not SessionState.PAIRING
    }
    assert out == {
        (Party.DEVICE, Trigger.PAIRING_SUCCEEDED): SessionState.PAIRED,
        (Party.DEVICE, Trigger.PAIRING_FAILED): SessionState.CONNECTED,
    }


def test_one_transaction_at_a_time() -> None:
    for trigger in (Trigger.TX_START, Trigger.REFUND_REQUEST):
        assert (SessionState.TRANSACTION, Party.POS, trigger) not in TRANSITIONS
    leaving = {
        trigger
        for (src, _, trigger), dst in TRANSITIONS.items()
        if src is SessionState.TRANSACTION and dst is SessionState.READY
    }
    assert leaving == CLOSING | {Trigger.DISCOVERY_READY}


@given(
    st.sampled_from(list(SessionState)),
    st.sampled_from(list(Party)),
    st.sampled_from(list(Trigger)),
)
def test_next_state_applies_the_table_and_refuses_the_rest(
    state: SessionState, party: Party, trigger: Trigger
) -> None:
    key = (state, party, trigger)
    if key in TRANSITIONS:
        assert next_state(state, party, trigger, error=LocalProtocolError) is TRANSITIONS[key]
    else:
        with pytest.raises(RemoteProtocolError):
            next_state(state, party, trigger, error=RemoteProtocolError)


@given(st.lists(st.tuples(st.sampled_from(list(Party)), st.sampled_from(list(Trigger)))))
def test_random_walks_never_open_two_transactions(steps: list[tuple[Party, Trigger]]) -> None:
    state = SessionState.CONNECTED
    open_tx = False
    for party, trigger in steps:
        try:
            state = next_state(state, party, trigger, error=LocalProtocolError)
        except LocalProtocolError:
            continue
        if trigger in (Trigger.TX_START, Trigger.REFUND_REQUEST):
            assert not open_tx
            open_tx = True
        if state is not SessionState.TRANSACTION:
            open_tx = False
        assert state is not SessionState.CLOSED


# Both cores driven by the same random conversation stay in the same state.
POS_MESSAGES: list[Any] = [
    PairingRequest(name="POS", serial_number="R1"),
    DiscoveryRequest(supports_order_modification=False),
    TxStart(pay_intent=PayIntent(amount=100, external_payment_id="e1"), request_info="SALE"),
    RefundRequest(payment_id="P1", full_refund=True),
    KeyPressMessage(key_press="ESC"),
    ShowWelcomeScreen(),
    Break(),
]
DEVICE_MESSAGES: list[Any] = [
    Ack(source_message_id="1"),
    UiStateMessage(ui_state="START", ui_direction="ENTER"),
    PairingCode(pairing_code="123456"),
    PairingResponse(pairing_state="PAIRED", authentication_token="t"),
    PairingResponse(pairing_state="FAILED"),
    PairingResponse(pairing_state="AUTHENTICATING"),
    DiscoveryResponse(ready=True),
    DiscoveryResponse(ready=False),
    TxStartResponse(result="SUCCESS", request_info="SALE"),
    TxStartResponse(result="DUPLICATE", request_info="SALE"),
    RefundResponse(code="SUCCESS"),
    FinishOk(request_info="SALE"),
    FinishCancel(request_info="SALE"),
    ResetDeviceResponse(status="SUCCESS"),
]


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    st.lists(
        st.one_of(
            st.tuples(st.just(Role.POS), st.sampled_from(POS_MESSAGES)),
            st.tuples(st.just(Role.DEVICE), st.sampled_from(DEVICE_MESSAGES)),
        ),
        max_size=40,
    ),
)
def test_pos_and_device_cores_agree(pairing: bool, steps: list[tuple[Role, Any]]) -> None:
    pos = RemotePayProtocol(Role.POS, remote_application_id="com.example.pos:1", pairing=pairing)
    device = RemotePayProtocol(Role.DEVICE, pairing=pairing)
    for role, message in steps:
        sender, receiver = (pos, device) if role is Role.POS else (device, pos)
        before = sender.state
        try:
            frames = sender.send(message)
        except LocalProtocolError:
            assert sender.state is before
            continue
        for frame in frames:
            receiver.receive_data(frame)
        assert pos.state is device.state
