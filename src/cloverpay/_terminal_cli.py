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
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported when a command runs: `cloverpay --help` stays quick
    from rich.console import Console

    from cloverpay.remotepay import CloverConnector, DeviceErrorEvent, Response
    from cloverpay.remotepay.protocol import DiscoveryResponse

__all__ = ["DEFAULT_TOKEN_FILE", "build_terminal_app"]

DEFAULT_TOKEN_FILE = Path("~/.config/cloverpay/terminals.json")
APP_ID = "com.cloverpay.cli:1.0"
EXIT_DECLINED, EXIT_ERROR, EXIT_UNKNOWN = 1, 2, 3

Url = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="CLOVERPAY_TERMINAL_URL",
        help="Device URL: wss://IP:12345/remote_pay (ws:// needs --insecure-plain-ws).",
    ),
]
CaFile = Annotated[
    Path | None, typer.Option("--ca-file", help="PEM bundle that signs the device certificate.")
]
Pin = Annotated[
    str | None, typer.Option("--pin", help="SHA-256 (hex) of the device's DER certificate.")
]
Plain = Annotated[bool, typer.Option("--insecure-plain-ws", help="Allow an unencrypted ws:// URL.")]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="CLOVERPAY_TERMINAL_TOKENS",
        help=f"Where pairing tokens are kept (default {DEFAULT_TOKEN_FILE}).",
    ),
]
AppId = Annotated[str, typer.Option("--app-id", help="The POS's Remote App ID.")]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for pairing and for each answer.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]
ApiToken = Annotated[
    str | None,
    typer.Option(
        "--api-token",
        envvar="CLOVERPAY_API_TOKEN",
        help="Merchant API token: a lost sale answer is then also looked up over REST "
        "(prefer the environment variable: arguments are visible to other users).",
        show_default=False,
    ),
]
MerchantId = Annotated[
    str | None,
    typer.Option("--merchant-id", envvar="CLOVERPAY_MERCHANT_ID", help="For --api-token."),
]
ApiBaseUrl = Annotated[
    str | None,
    typer.Option(
        "--api-base-url",
        envvar="CLOVERPAY_API_BASE_URL",
        help="Clover REST base URL for --api-token (default: Clover's production server).",
    ),
]


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    ca_file: Path | None
    pin: str | None
    plain: bool
    token_file: Path | None
    app_id: str
    timeout: float
    as_json: bool


def _listener(console: Console) -> Any:
    from rich.panel import Panel
    from rich.text import Text

    from cloverpay.remotepay import CloverConnectorListener

    class Listener(CloverConnectorListener):
        def on_pairing_code(self, pairing_code: str) -> None:
            code = Text(" ".join(pairing_code), style="bold white on blue", justify="center")
            console.print(
                Panel(
                    Text.assemble("\n", code, "\n"),
                    title="Pairing code",
                    subtitle="type it on the device",
                    expand=False,
                    padding=(1, 6),
                )
            )

        def on_device_error(self, error: DeviceErrorEvent) -> None:
            if error.code in ("PairingFailed", "CertificatePin", "Recovering"):
                console.print(f"[yellow]{error.code}:[/] {error.message}")

    return Listener()


@dataclass(frozen=True, slots=True)
class _Rest:
    token: str | None
    merchant_id: str | None
    base_url: str | None

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        return f"_Rest(merchant_id={self.merchant_id!r}, base_url={self.base_url!r})"


def _run(
    target: _Target,
    call: Callable[[CloverConnector], Awaitable[Any]],
    rest: _Rest | None = None,
) -> Any:
    import asyncio

    from cloverpay.remotepay import (
        CloverConnector,
        ConnectorConfig,
        KeyedFileTokenStore,
        NotReadyError,
        OutcomeUnknownError,
    )

    err = _console(stderr=True)
    out = _console(stderr=target.as_json)
    try:
        config = ConnectorConfig(
            url=target.url,
            remote_application_id=target.app_id,
            ca_file=str(target.ca_file) if target.ca_file else None,
            pinned_sha256=target.pin,
            allow_plain_ws=target.plain,
            heartbeat_interval=None,
            reconnect_delay=1.0,
            request_timeout=target.timeout,
            connect_timeout=min(target.timeout, 10.0),
            recovery_timeout=min(target.timeout, 30.0),
        )
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    path = (target.token_file or DEFAULT_TOKEN_FILE).expanduser()
    store = KeyedFileTokenStore(path, target.url)

    if rest is not None and rest.token and not rest.merchant_id:
        err.print("[red]error:[/] --api-token needs --merchant-id")
        raise typer.Exit(EXIT_ERROR)

    async def go() -> Any:
        from cloverpay.api import AsyncCloverClient
        from cloverpay.remotepay import rest_payment_lookup

        client = None
        if rest is not None and rest.token:
            client = AsyncCloverClient(
                rest.token, merchant_id=rest.merchant_id, base_url=rest.base_url
            )
        lookup = rest_payment_lookup(client) if client is not None else None
        connector = CloverConnector(config, _listener(out), token_store=store, rest_lookup=lookup)
        try:
            await connector.connect(timeout=target.timeout)
            return connector.merchant_info, await call(connector)
        finally:
            await connector.close()
            if client is not None:
                await client.aclose()

    try:
        return asyncio.run(go())
    except (TimeoutError, NotReadyError) as exc:
        err.print(f"[red]error:[/] could not reach and pair with {target.url}: {exc}")
        raise typer.Exit(EXIT_ERROR) from None
    except OutcomeUnknownError as exc:
        reason = exc.resolution.reason if exc.resolution else str(exc)
        _show(
            target,
            out,
            "Outcome UNKNOWN",
            {"result": "UNKNOWN", "external_id": exc.external_id, "reason": reason},
        )
        raise typer.Exit(EXIT_UNKNOWN) from None
    except ValueError as exc:  # e.g. a token file that is not JSON
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_ERROR) from None


def _show(target: _Target, console: Console, title: str, rows: dict[str, Any]) -> None:
    rows = {k: v for k, v in rows.items() if v is not None}
    if target.as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, str(value))
    console.print(table)


def _response_rows(response: Response) -> dict[str, Any]:
    rows: dict[str, Any] = {
        "result": response.result.value,
        "success": response.success,
        "reason": response.reason,
        "message": response.message,
    }
    payment = getattr(response, "payment", None)
    if payment is not None:
        card = payment.card_transaction
        rows |= {
            "payment_id": payment.id,
            "order_id": payment.order.id if payment.order else None,
            "external_id": payment.external_payment_id,
            "amount": payment.amount,
            "tip_amount": payment.tip_amount,
            "payment_result": payment.result,
            "card": f"{card.card_type} ****{card.last4}" if card and card.last4 else None,
        }
    refund = getattr(response, "refund", None)
    if refund is not None:
        rows |= {"refund_id": refund.id, "refund_amount": refund.amount}
    recovery = getattr(response, "recovery", None)
    if recovery is not None:
        rows["recovered"] = f"{recovery.outcome.value} via {recovery.source}: {recovery.reason}"
    return rows


def _finish(target: _Target, title: str, result: tuple[Any, Response]) -> None:
    _, response = result
    _show(target, _console(), title, _response_rows(response))
    if not response.success:
        raise typer.Exit(EXIT_DECLINED)


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


def _device_rows(info: DiscoveryResponse | None, t: _Target) -> dict[str, Any]:
    path = (t.token_file or DEFAULT_TOKEN_FILE).expanduser()
    rows: dict[str, Any] = {"url": t.url, "token_file": os.fspath(path)}
    if info is not None:
        rows |= {
            "device": info.name,
            "serial": info.serial,
            "model": info.model,
            "merchant": info.merchant_name,
            "merchant_id": info.merchant_m_id or info.merchant_id,
        }
    return rows
