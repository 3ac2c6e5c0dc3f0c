"""How ``cloverpay terminal`` prints answers: a table, or one JSON object (``--json``)."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from ._terminal_options import DEFAULT_TOKEN_FILE, EXIT_DECLINED, _Target

if TYPE_CHECKING:  # imported when a command runs: `cloverpay --help` stays quick
    from rich.console import Console

    from cloverpay.remotepay import Response
    from cloverpay.remotepay.protocol import DiscoveryResponse

__all__: list[str] = []  # the terminal commands' own helpers


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False)


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
