"""The floor: the pay flow's three service endpoints with nothing behind them but the
Clover calls, as a benchmark server (one uvicorn process).

What any service built the way the payments service is built must do at least, and
nothing more: FastAPI routes with pydantic bodies, run by uvicorn with httptools and
uvloop, the Clover calls made with ``cloverpay.api.AsyncCloverClient`` (one shared
``httpx.AsyncClient``, the rate limiter off). No database, no API keys, no
``Idempotency-Key``, no audit, no outbox, no recovery: invoices live in a dict of
this process (a payer keeps to one process). Its throughput is an upper bound for the
service on the same machine, and its added p50 over the direct path a lower bound.

* ``POST /v1/invoices`` {"line_items": [...]} → 201 {"id", "status": "draft", "total"}
* ``POST /v1/invoices/{id}/open`` → ``orders.create`` at Clover → 200 {"status": "open"}
* ``POST /v1/invoices/{id}/pay`` {"token"} → ``orders.pay`` at Clover →
  200 {"state": "succeeded", "clover_charge_id"}

Sandbox credentials from the environment (``FLOOR_SANDBOX``: the JSON line
``_sandbox_server.py`` prints, with ``base_url``). One JSON line on stdout once it
listens (``{"port": ..., "pid": ...}``), as ``_loadgen.start_server`` expects.

    FLOOR_SANDBOX='{...}' python bench/_floor_server.py [--port 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from _loadgen import announce, listening_socket, server_config
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from cloverpay.api import AsyncCloverClient


class LineItem(BaseModel):
    description: str = Field(max_length=255)
    quantity: int = Field(ge=1)
    unit_amount: int = Field(ge=0)


class InvoiceIn(BaseModel):
    line_items: list[LineItem] = Field(min_length=1)


class PayIn(BaseModel):
    token: str = Field(pattern=r"^clv_")


def build_app(sandbox: dict[str, Any]) -> FastAPI:
    invoices: dict[str, dict[str, Any]] = {}
    holder: dict[str, AsyncCloverClient] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as http:
            holder["clover"] = AsyncCloverClient(
                sandbox["access_token"],
                merchant_id=sandbox["merchant_id"],
                api_access_key=sandbox["api_access_key"],
                base_url=sandbox["base_url"],
                client_ip="203.0.113.7",  # the payer's address, as the payers send it
                http_client=http,
                rate_limit=None,
            )
            yield

    app = FastAPI(lifespan=lifespan)

    def find(invoice_id: str) -> dict[str, Any]:
        invoice = invoices.get(invoice_id)
        if invoice is None:
            raise HTTPException(404, f"no invoice {invoice_id}")
        return invoice

    @app.post("/v1/invoices", status_code=201)
    async def create_invoice(body: InvoiceIn) -> dict[str, Any]:
        invoice = {
            "id": uuid.uuid4().hex,
            "status": "draft",
            "items": [i.model_dump() for i in body.line_items],
            "total": sum(i.quantity * i.unit_amount for i in body.line_items),
            "order": None,
        }
        invoices[invoice["id"]] = invoice
        return {"id": invoice["id"], "status": "draft", "total": invoice["total"]}

    @app.post("/v1/invoices/{invoice_id}/open")
    async def open_invoice(invoice_id: str) -> dict[str, Any]:
        invoice = find(invoice_id)
        items = [
            {
                "type": "sku",
                "amount": i["unit_amount"],
                "quantity": i["quantity"],
                "description": i["description"],
            }
            for i in invoice["items"]
        ]
        order = await holder["clover"].orders.create(currency="usd", items=items)  # type: ignore[arg-type]
        invoice["order"], invoice["status"] = order.id, "open"
        return {"id": invoice_id, "status": "open", "clover_order_id": order.id}

    @app.post("/v1/invoices/{invoice_id}/pay")
    async def pay_invoice(invoice_id: str, body: PayIn) -> dict[str, Any]:
        invoice = find(invoice_id)
        if invoice["status"] != "open":
            raise HTTPException(409, f"invoice is {invoice['status']}")
        paid = await holder["clover"].orders.pay(
            invoice["order"], idempotency_key=uuid.uuid4().hex, source=body.token
        )
        invoice["status"] = "paid"
        return {"state": "succeeded", "clover_charge_id": paid.charge}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app = build_app(json.loads(os.environ["FLOOR_SANDBOX"]))
    sock = listening_socket(args.port)
    announce({"port": sock.getsockname()[1], "pid": os.getpid()})
    config = server_config(app)
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    gc.collect()  # start-up objects out of the collector's way, as the service does
    gc.freeze()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
