"""Invoices: create (draft), open (creates the Clover order), void, mark uncollectible.

Each function is one unit of work: the invoice rows, the audit row and the outbox row
commit together. Paid and refunded amounts are derived from payment rows (rule 8).

``_read``: loading and locking an invoice, its totals and what deciding a charge needs;
``_create``: a draft and its number; ``_open``: draft -> open with its Clover order;
``_status``: the status table applied and audited, the paid status, void, uncollectible.
"""

from cloverpay.service.services.invoices._create import LineItemInput, create_invoice
from cloverpay.service.services.invoices._open import open_invoice
from cloverpay.service.services.invoices._read import (
    PAID_AND_REFUNDED,
    InvoiceTotals,
    PayableFacts,
    amount_held,
    amount_paid,
    get_invoice,
    invoice_totals,
    list_invoices,
    load_invoice,
    paid_and_refunded,
    payable_facts,
)
from cloverpay.service.services.invoices._read import (
    _refuse_if_unresolved as _refuse_if_unresolved,
)
from cloverpay.service.services.invoices._status import (
    invoice_paid_key,
    mark_uncollectible,
    set_invoice_status,
    set_paid_status,
    void_invoice,
)

__all__ = [
    "PAID_AND_REFUNDED",
    "InvoiceTotals",
    "LineItemInput",
    "PayableFacts",
    "amount_held",
    "amount_paid",
    "create_invoice",
    "get_invoice",
    "invoice_paid_key",
    "invoice_totals",
    "list_invoices",
    "load_invoice",
    "mark_uncollectible",
    "open_invoice",
    "paid_and_refunded",
    "payable_facts",
    "set_invoice_status",
    "set_paid_status",
    "void_invoice",
]
