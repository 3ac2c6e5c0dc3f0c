"""``cloverpay demo``: the offline sandbox plus a short walkthrough against it.

The walkthrough is what a developer would do on day one with a real Clover sandbox
account, done offline over a real socket with :class:`cloverpay.api.CloverClient`:

1. fetch the PAKMS key, 2. tokenize a test card, 3. charge the token, 4. refund part of
the charge, 5. show that a declining test card raises :class:`CardDeclinedError` with
Clover's decline code. Then the sandbox keeps serving until Ctrl-C (or exits at once
with ``serve=False``), so the printed credentials can be used by the developer's code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from cloverpay.api import CardDeclinedError, CardParams, CloverClient
from cloverpay.sandbox import Sandbox, SandboxServer

__all__ = ["Step", "run_demo", "walkthrough"]

APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4005571702222222"
PAYER_IP = "203.0.113.7"  # documentation address: the payer's browser, sent as x-forwarded-for


@dataclass(frozen=True)
class Step:
    """One line of the walkthrough table."""

    what: str
    call: str
    result: str


def _card(number: str) -> CardParams:
    return {"number": number, "exp_month": "12", "exp_year": "2030", "cvv": "123"}


def walkthrough(client: CloverClient) -> list[Step]:
    """Token → charge → partial refund → a decline, each as a :class:`Step`."""
    steps: list[Step] = []
    key = client.pakms.get()
    steps.append(Step("PAKMS key", "GET /pakms/apikey", f"apiAccessKey {key.api_access_key[:6]}…"))
    token = client.tokens.create(card=_card(APPROVED_CARD))
    card = token.card
    shown = f"{card.brand} ····{card.last4}" if card is not None else "card"
    steps.append(Step("Tokenize a test card", "POST /v1/tokens", f"{token.id} ({shown})"))
    charge = client.charges.create(amount=2500, currency="usd", source=token.id)
    charged = f"{charge.id} {charge.status}, order {charge.order}"
    steps.append(Step("Charge $25.00", "POST /v1/charges", charged))
    refund = client.refunds.create(charge=charge.id, amount=500)
    after = client.charges.retrieve(charge.id)
    steps.append(
        Step(
            "Refund $5.00",
            "POST /v1/refunds",
            f"{refund.id} {refund.status}; charge amount_refunded {after.amount_refunded}",
        )
    )
    declined = client.tokens.create(card=_card(DECLINED_CARD))
    try:
        client.charges.create(amount=1000, currency="usd", source=declined.id)
        outcome = "approved (unexpected)"
    except CardDeclinedError as exc:
        outcome = f"CardDeclinedError code={exc.code} decline_code={exc.decline_code}"
    steps.append(Step("Charge a declining card", "POST /v1/charges", outcome))
    return steps


def _table(steps: list[Step]) -> Table:
    table = Table(title="Walkthrough against the sandbox", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("call", style="cyan")
    table.add_column("result", style="green")
    for n, step in enumerate(steps, 1):
        table.add_row(str(n), step.what, step.call, step.result)
    return table


def run_demo(
    host: str = "127.0.0.1",
    port: int = 8080,
    seed: int | None = None,
    serve: bool = True,
    console: Console | None = None,
) -> list[Step]:
    """Start the sandbox on a real socket, run the walkthrough, then serve until Ctrl-C."""
    out = console or Console()
    server = SandboxServer(Sandbox(seed=seed), host=host, port=port).start()
    try:
        creds = server.credentials
        out.print(
            Panel.fit(
                f"base URL        [bold]{creds.base_url}[/]\n"
                f"merchant id     {creds.merchant_id}\n"
                f"access token    {creds.access_token}\n"
                f"apiAccessKey    {creds.api_access_key}\n"
                f"credentials     GET {creds.base_url}/_sandbox/credentials",
                title="cloverpay sandbox (offline Clover)",
            )
        )
        with CloverClient(
            creds.access_token,
            merchant_id=creds.merchant_id,
            base_url=creds.base_url,
            client_ip=PAYER_IP,
        ) as client:
            steps = walkthrough(client)
        out.print(_table(steps))
        if serve:
            out.print(
                f"Point your code at [bold]{creds.base_url}[/] "
                "(CloverClient(base_url=...)). Ctrl-C to stop."
            )
            threading.Event().wait()
        return steps
    except KeyboardInterrupt:
        return []
    finally:
        server.stop()
