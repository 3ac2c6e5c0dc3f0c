"""Our reference on the refunds we send, and matching Clover's refunds to ours by it.

A refund we send (``POST /v1/refunds``: a refund or a void of an online payment, a
terminal refund sent through the REST API) carries ``metadata`` =
``{"cloverpay_attempt": <the attempt's id>}``: Clover's ``external_reference_id`` takes
at most 12 letters or digits and our ids are longer, ``metadata`` takes free key/values
(spec §9, both [C2] on refund create). The reference is written into the attempt's
``request_json`` with the intent (or, for a terminal refund, when the REST send is
claimed), so a resend with the same idempotency key sends the same body. Attempts
created before the reference existed carry none, and are resent without it.

That Clover returns a refund's ``metadata`` when it lists or shows refunds is a guess
[G] (its docs show ``id, charge, amount, status, created`` only). So a reference found
is proof; a refund without one is not proof that it is not ours:

* a refund carrying the reference of one of our attempts is that attempt's, and never
  another's;
* a webhook (:mod:`~cloverpay.service.webhooks._refunds`) matches a refund carrying
  none (made in Clover's dashboard or on a device, or Clover does not echo metadata)
  by the older rule (charge + amount) only to attempts that carry no reference either;
  while one of ours that carries a reference and has the same amount is unresolved,
  it waits for that attempt's own answer (the request's response, or the reconciler's
  resend with the same key) instead of guessing which of two equal refunds is whose;
* a lookup (:func:`pick_refund`: the reconciler's, after Clover refused a resend or for
  a terminal refund's lost answer) takes the refund carrying the attempt's reference,
  else falls back to the older rule among refunds carrying no reference: it cannot
  wait, and finding nothing would call the attempt failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloverpay.api import APIError, CloverClient
from cloverpay.service.db import PaymentAttempt

__all__ = [
    "REFERENCE_KEY",
    "ListedRefund",
    "carried_reference",
    "listed_references",
    "pick_refund",
    "reference_metadata",
    "reference_of",
    "with_reference",
]

#: The ``metadata`` key naming our attempt (also on pre-authorization charges).
REFERENCE_KEY = "cloverpay_attempt"


def reference_metadata(attempt_id: str) -> dict[str, str]:
    """The ``metadata`` of a refund request of attempt ``attempt_id``."""
    return {REFERENCE_KEY: attempt_id}


def with_reference(request: Mapping[str, Any], attempt_id: str) -> dict[str, Any]:
    """``request`` (an attempt's ``request_json``) with the reference to send."""
    return {**request, "metadata": reference_metadata(attempt_id)}


def reference_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The attempt id a refund's ``metadata`` names, if any."""
    value = (metadata or {}).get(REFERENCE_KEY)
    return value if isinstance(value, str) and value else None


def carried_reference(attempt: PaymentAttempt) -> str | None:
    """The reference the attempt's refund request carries (None: sent without one)."""
    try:
        req = json.loads(attempt.request_json or "{}")
    except ValueError:
        return None
    meta = req.get("metadata") if isinstance(req, dict) else None
    ref = reference_of(meta if isinstance(meta, dict) else None)
    return ref if ref == attempt.id else None


@dataclass(frozen=True, slots=True)
class ListedRefund:
    """A refund Clover lists on a charge or payment."""

    id: str
    amount: int | None
    reference: str | None = None


def pick_refund(
    attempt: PaymentAttempt, listed: Iterable[ListedRefund], recorded: set[str]
) -> ListedRefund | None:
    """The attempt's refund among those Clover lists: the one carrying its reference;
    else (by the older rule) the first that no row of ours records, carries no
    reference, and has the attempt's amount. A refund carrying another attempt's
    reference is never taken. The caller compares the amount of a refund found by
    reference (rule 7)."""
    refunds = list(listed)
    for refund in refunds:
        if refund.reference == attempt.id:
            return refund
    for refund in refunds:
        if (
            refund.reference is None
            and refund.id not in recorded
            and refund.amount == attempt.amount
        ):
            return refund
    return None


def listed_references(clover: CloverClient, charge: str) -> dict[str, str]:
    """Refund id -> our reference, of the refunds ``/v1/refunds?charge=`` lists for a
    terminal (v3) payment: its v3 ``refunds`` carry no ``metadata``, and that Clover
    lists our REST refunds of it there is a guess [G]. Clover refusing the listing
    (an error answer) is no reference; a failure to reach Clover raises."""
    try:
        return {
            r.id: ref
            for r in clover.refunds.list(charge=charge)
            if (ref := reference_of(r.metadata)) is not None
        }
    except APIError:
        return {}
