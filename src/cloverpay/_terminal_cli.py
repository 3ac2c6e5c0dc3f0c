"""``cloverpay terminal …``: drive a Clover device (or the sandbox's emulated one).

    cloverpay terminal pair    --url wss://192.168.1.20:12345/remote_pay --ca-file roots.pem
    cloverpay terminal sale    --url … --amount 1250 [--external-id inv-42-try-1] [--tip-amount 200]
    cloverpay terminal refund  --url … --payment-id P --order-id O [--amount 500]
    cloverpay terminal void    --url … --payment-id P --order-id O
    cloverpay terminal status  --url …
    cloverpay terminal message --url … "Hello"
    cloverpay terminal lookup  --url … --external-id inv-42-try-1

Trust: ``--ca-file`` (PEM bundle) or ``--pin`` (SHA-256 of the device certificate);
plain ``ws://`` only with ``--insecure-plain-ws``. The first connection shows the
pairing code (type it on the device); the auth token is then kept, per device URL, in
``~/.config/cloverpay/terminals.json`` (mode 0600; ``--token-file`` elsewhere).

A sale whose answer is lost is never sent again: it is looked up on the device, then
over REST with ``CLOVERPAY_API_TOKEN`` + ``--merchant-id`` (``--api-base-url`` for a
sandbox).

Exit codes: 0 success, 1 the device said no (declined, cancelled, failed), 2 usage or
connection error, 3 outcome UNKNOWN (the answer was lost and the lookup proved nothing:
check the payment before trying again).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._terminal_options import (
    APP_ID,
    DEFAULT_TOKEN_FILE,
    EXIT_DECLINED,
    ApiBaseUrl,
    ApiToken,
    AppId,
    AsJson,
    CaFile,
    MerchantId,
    Pin,
    Plain,
    Timeout,
    TokenFile,
    Url,
    _Rest,
    _Target,
)
from ._terminal_output import _console, _device_rows, _finish, _response_rows, _show
from ._terminal_run import _run

if TYPE_CHECKING:  # imported when a command runs: `cloverpay --help` stays quick
    from cloverpay.remotepay import CloverConnector

__all__ = ["DEFAULT_TOKEN_FILE", "build_terminal_app"]


def build_terminal_app() -> typer.Typer:
    app = typer.Typer(
        name="terminal",
        help="Drive a Clover device over Remote Pay: pair, sale, refund, void, status, message.",
        no_args_is_help=True,
        add_completion=False,
    )

    def target(
        url: str,
        ca_file: Path | None,
        pin: str | None,
        plain: bool,
        token_file: Path | None,
        app_id: str,
        timeout: float,
        as_json: bool,
    ) -> _Target:
        return _Target(url, ca_file, pin, plain, token_file, app_id, timeout, as_json)

    @app.command("pair")
    def pair(
        url: Url,
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """Pair with the device (shows the code to type on it) and remember the token."""
        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)

        async def nothing(c: CloverConnector) -> None:
            return None

        info, _ = _run(t, nothing)
        _show(t, _console(), "Paired", _device_rows(info, t))

    @app.command("status")
    def status(
        url: Url,
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """The device's state (idle, busy …) and who it is."""
        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)
        info, answer = _run(t, lambda c: c.retrieve_device_status())
        rows = _device_rows(info, t) | {
            "result": answer.result.value,
            "state": answer.state,
            "substate": answer.substate,
            "data": json.dumps(answer.data) if answer.data else None,
        }
        _show(t, _console(), "Device status", rows)
        if not answer.success:
            raise typer.Exit(EXIT_DECLINED)

    @app.command("sale")
    def sale(
        url: Url,
        amount: Annotated[int, typer.Option(help="Amount in cents.")],
        external_id: Annotated[
            str | None,
            typer.Option(help="Your id for this attempt (≤32 chars; default: a new one)."),
        ] = None,
        tip_amount: Annotated[int | None, typer.Option(help="Tip in cents.")] = None,
        tax_amount: Annotated[int | None, typer.Option(help="Tax in cents.")] = None,
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
        api_token: ApiToken = None,
        merchant_id: MerchantId = None,
        api_base_url: ApiBaseUrl = None,
    ) -> None:
        """Take a payment; the customer taps, inserts or swipes on the device.

        If the answer is lost (dropped connection, device restart) the sale is never
        sent again: it is looked up on the device, then over REST with --api-token."""
        from cloverpay.remotepay import SaleRequest

        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)
        request = SaleRequest(
            amount=amount,
            external_id=external_id or f"cli-{secrets.token_hex(8)}",
            tip_amount=tip_amount,
            tax_amount=tax_amount,
            auto_accept_payment_confirmations=True,
            auto_accept_signature=True,
        )
        rest = _Rest(api_token, merchant_id, api_base_url)
        _finish(t, "Sale", _run(t, lambda c: c.sale(request), rest))

    @app.command("refund")
    def refund(
        url: Url,
        payment_id: Annotated[str, typer.Option(help="The payment to refund.")],
        order_id: Annotated[str, typer.Option(help="Its order.")],
        amount: Annotated[
            int | None, typer.Option(help="Cents to refund (default: the whole payment).")
        ] = None,
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """Refund a payment, fully or partly."""
        from cloverpay.remotepay import RefundPaymentRequest

        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)
        request = RefundPaymentRequest(
            payment_id=payment_id, order_id=order_id, amount=amount, full_refund=amount is None
        )
        _finish(t, "Refund", _run(t, lambda c: c.refund_payment(request)))

    @app.command("void")
    def void(
        url: Url,
        payment_id: Annotated[str, typer.Option(help="The payment to void.")],
        order_id: Annotated[str | None, typer.Option(help="Its order.")] = None,
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """Void a payment (before the batch closes)."""
        from cloverpay.remotepay import VoidPaymentRequest

        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)
        request = VoidPaymentRequest(payment_id=payment_id, order_id=order_id)
        _finish(t, "Void", _run(t, lambda c: c.void_payment(request)))

    @app.command("lookup")
    def lookup(
        url: Url,
        external_id: Annotated[str, typer.Option(help="The externalPaymentId of the sale.")],
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """Find a payment on the device by the externalPaymentId it was started with."""
        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)
        _, answer = _run(t, lambda c: c.retrieve_payment(external_id))
        rows = _response_rows(answer) | {"query_status": answer.query_status}
        _show(t, _console(), "Payment lookup", rows)
        if answer.query_status != "FOUND":
            raise typer.Exit(EXIT_DECLINED)

    @app.command("message")
    def message(
        url: Url,
        text: Annotated[str, typer.Argument(help="What the device shows.")],
        ca_file: CaFile = None,
        pin: Pin = None,
        insecure_plain_ws: Plain = False,
        token_file: TokenFile = None,
        app_id: AppId = APP_ID,
        timeout: Timeout = 120.0,
        as_json: AsJson = False,
    ) -> None:
        """Show a message on the device's screen."""
        t = target(url, ca_file, pin, insecure_plain_ws, token_file, app_id, timeout, as_json)

        async def show(c: CloverConnector) -> Any:
            await c.show_message(text)
            return await c.retrieve_device_status()  # a round trip: the message was handled

        _run(t, show)
        _show(t, _console(), "Message", {"shown": text})

    return app
