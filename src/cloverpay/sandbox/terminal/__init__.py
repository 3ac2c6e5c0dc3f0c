"""An emulated Clover terminal running Secure Network Pay Display (Remote Pay).

The sandbox also plays the card terminal: a websocket server at
``ws://HOST:PORT/remote_pay`` (or ``wss://`` with a certificate it generates) that
speaks the device side of :mod:`cloverpay.remotepay.protocol` — the same sans-I/O
core the POS side uses — and that Clover's official SDKs accept (spec §9): it pairs
(by itself, or once the code is confirmed), answers discovery with its capability
flags, ACKs every command, answers PINGs, and runs sales, auths, preauths, captures,
increments, tip adjusts, voids, refunds, manual refunds, closeouts, payment and
status lookups, resets, card reads, vaulting, printing and screens.

Cloud Pay Display (spec §1.2) is emulated too: ``POST /v2/merchant/{mId}/remote_pay``
on the sandbox's HTTP port hands out a proxy token, and the terminal's port accepts
``/support/remote_pay/cs?token=…`` with the merchant's OAuth token as sub-protocol
(no pairing; OPTIONS answers ``X-CLOVER-CONNECTED-ID``).

The customer is scripted (:class:`CustomerScript`, ``POST /_sandbox/terminal/script``)
or a person on the ``/terminal`` page. Money taken on the terminal lands in the
sandbox's merchant state: the Platform v3 payments view and app webhooks see it.

::

    sandbox = Sandbox(seed=1)
    with SandboxServer(sandbox, terminal_port=0) as server:
        server.terminal_url            # ws://127.0.0.1:PORT/remote_pay
        terminal_for(sandbox.state).push_script(CustomerScript(outcome="decline"))

Modules: :mod:`._device` (the terminal: screen, inputs, pairing, reboot),
:mod:`._device_state` (its settings, queued scripts, inputs, transaction in flight),
:mod:`._session` (one POS connection), :mod:`._handlers` (what the device does per
request), :mod:`._answers` (requests answered at once), :mod:`._flows` and
:mod:`._flow_steps` (transactions), :mod:`._ledger` (money into the merchant state),
:mod:`._script` (scripted customers), :mod:`._server` (the websocket server),
:mod:`._farm` (many terminals of one merchant behind one port, for load tests),
:mod:`._tls` (the self-signed certificate).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._device import Terminal, terminal_for
    from ._device_state import InFlight, Input, ScriptQueue, TerminalSettings
    from ._farm import TerminalFarm
    from ._flow_steps import request_info_of
    from ._flows import SIGNATURE, run_payment, run_refund
    from ._handlers import handle_message
    from ._ledger import Books, LedgerError, TerminalLedger, card_transaction
    from ._script import (
        CARDS,
        DEFAULT_SCRIPT,
        ENTRY_TYPES,
        OUTCOMES,
        CustomerScript,
        ScriptError,
        TestCard,
    )
    from ._server import CLOUD_PATH, REMOTE_PAY_PATH, TerminalServer
    from ._session import Session
    from ._tls import TerminalCertificate, generate_certificate

__all__ = [
    "CARDS",
    "CLOUD_PATH",
    "DEFAULT_SCRIPT",
    "ENTRY_TYPES",
    "OUTCOMES",
    "REMOTE_PAY_PATH",
    "SIGNATURE",
    "Books",
    "CustomerScript",
    "InFlight",
    "Input",
    "LedgerError",
    "ScriptError",
    "ScriptQueue",
    "Session",
    "Terminal",
    "TerminalCertificate",
    "TerminalFarm",
    "TerminalLedger",
    "TerminalServer",
    "TerminalSettings",
    "TestCard",
    "card_transaction",
    "generate_certificate",
    "handle_message",
    "request_info_of",
    "run_payment",
    "run_refund",
    "terminal_for",
]

#: public name -> private module defining it (imported on first use, PEP 562: the
#: protocol models behind the terminal take a while to import)
_LAZY: dict[str, str] = {
    "CARDS": "._script",
    "CLOUD_PATH": "._server",
    "DEFAULT_SCRIPT": "._script",
    "ENTRY_TYPES": "._script",
    "OUTCOMES": "._script",
    "REMOTE_PAY_PATH": "._server",
    "SIGNATURE": "._flows",
    "Books": "._ledger",
    "CustomerScript": "._script",
    "InFlight": "._device_state",
    "Input": "._device_state",
    "LedgerError": "._ledger",
    "ScriptError": "._script",
    "ScriptQueue": "._device_state",
    "Session": "._session",
    "Terminal": "._device",
    "TerminalCertificate": "._tls",
    "TerminalFarm": "._farm",
    "TerminalLedger": "._ledger",
    "TerminalServer": "._server",
    "TerminalSettings": "._device_state",
    "TestCard": "._script",
    "card_transaction": "._ledger",
    "generate_certificate": "._tls",
    "handle_message": "._handlers",
    "request_info_of": "._flow_steps",
    "run_payment": "._flows",
    "run_refund": "._flows",
    "terminal_for": "._device",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
