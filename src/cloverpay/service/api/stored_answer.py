"""A request's ``Idempotency-Key`` row, as the route sees it (:class:`StoredAnswer`).

A route may store its answer itself, in its own last transaction (:meth:`StoredAnswer.write`,
e.g. the pay route in the transaction that settles the payment): the row becomes ``done``
together with the work it answers.

The routes of :data:`CLAIMED_BY_ROUTE` also *claim* the key in their own first write
transaction instead of in one of its own before they run: the INSERT is the first
statement of that transaction (a session listener, :func:`_claim_in_transaction`), so
the claim commits with the route's first work, one commit and one pooled connection
fewer per request. What it protects is the same: nothing the route does before its
first write transaction is a call to Clover (the money path commits its intent first,
RELIABILITY.md rule 1), and everything after it runs under the claim. A key already
claimed stops the route right there (:class:`ClaimTaken`, nothing of its work written)
and the middleware answers as for any claimed key (replay, conflict, in progress).

What a route of :data:`CLAIMED_BY_ROUTE` must keep true: its first session transaction
(not counting :func:`~cloverpay.service.db.reading`, which is skipped) is its first
write, and it calls Clover only after that transaction committed. A read session opened
before it would carry the claim and give it back at its close (correct, but a claim for
nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction
from starlette.responses import Response

from cloverpay.service.db import IdempotencyKey
from cloverpay.service.db.session import READ_ONLY_OPTION
from cloverpay.service.services.context import ServiceContext

__all__ = [
    "CLAIMED_BY_ROUTE",
    "STORED_STATUSES",
    "ClaimTaken",
    "StoredAnswer",
    "claim_values",
    "claiming",
]

#: The POSTs whose key is claimed in the route's first write transaction: creating an
#: invoice and paying one (their first transaction is their first write, see above).
CLAIMED_BY_ROUTE = re.compile(r"/v1/invoices(?:/[^/]+/pay)?")
#: Statuses whose answer is stored (2xx including 202 "outcome unknown", and a decline).
STORED_STATUSES = frozenset({200, 201, 202, 402})

_MINE = (IdempotencyKey.merchant_id == bindparam("m"), IdempotencyKey.key == bindparam("k"))
_ANSWER = update(IdempotencyKey).where(*_MINE).values(status="done")
# The claim: a row of ours, or none when the key is held already (no error, so the
# transaction is not aborted; PostgreSQL waits for a concurrent claim's transaction).
_CLAIM = {
    name: insert(IdempotencyKey)
    .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
    .returning(IdempotencyKey.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}

ClaimState = Literal["middleware", "pending", "in_transaction", "committed"]


class ClaimTaken(Exception):
    """The request's key is held by another request (running or answered): the route
    stops before any of its work is written; the middleware answers."""


class StoredAnswer:
    """The running request's Idempotency-Key row, for a route to store its answer in a
    transaction of its own work (one UPDATE there instead of a transaction after)."""

    def __init__(
        self, ctx: ServiceContext, merchant_id: str, key: str, claim: dict[str, Any] | None = None
    ) -> None:
        self.ctx = ctx
        self.merchant_id = merchant_id
        self.key = key
        #: (status, body) written, once the caller's transaction has run the UPDATE. If
        #: that transaction does not commit, the route raises and answers otherwise,
        #: so the middleware (which compares) stores or deletes the row itself.
        self.written: tuple[int, bytes] | None = None
        #: The row to claim in the route's first write transaction (None: the middleware
        #: claimed it before the route ran).
        self.claim = claim
        self.claim_state: ClaimState = "middleware" if claim is None else "pending"

    @property
    def claimed(self) -> bool:
        """Whether the row exists, committed (claimed by the middleware or the route)."""
        return self.claim_state in ("middleware", "committed")

    def answer(self, conn: Connection, status: int, body: bytes, content_type: str) -> None:
        conn.execute(
            _ANSWER,
            {
                "m": self.merchant_id,
                "k": self.key,
                "response_status": status,
                "response_body": body,
                "response_content_type": content_type,
                "completed_at": self.ctx.now(),
            },
        )

    def _update(self, conn: Connection, response: Response) -> None:
        media = response.media_type or "application/json"
        self.answer(conn, response.status_code, bytes(response.body), media)

    def write(self, session: Session, response: Response) -> None:
        """Store ``response`` (sent as it is) in ``session``'s transaction; statuses
        that are not stored are left to the middleware."""
        status = response.status_code
        if status not in STORED_STATUSES:
            return
        # a Core statement on the session's connection (the ORM's bulk UPDATE costs more);
        # with the key claimed by the route, this transaction claimed it or one before
        self._update(session.connection(), response)
        self.written = (status, bytes(response.body))


#: The request's :class:`StoredAnswer` whose key the route claims (the context is
#: copied into the worker thread a sync route runs in).
_CLAIMING: ContextVar[StoredAnswer | None] = ContextVar("cloverpay_claiming", default=None)
_SESSION_CLAIM = "cloverpay_idempotency_claim"


@contextmanager
def claiming(stored: StoredAnswer | None) -> Iterator[None]:
    """Within: ``stored`` is the request whose key the route's first write transaction
    claims (None: no claim by the route). Entered by the middleware in the request's task."""
    token = _CLAIMING.set(stored)
    try:
        yield
    finally:
        _CLAIMING.reset(token)


@sa_event.listens_for(Session, "after_begin")
def _claim_in_transaction(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    stored = _CLAIMING.get()
    if stored is None or stored.claim_state != "pending" or stored.claim is None:
        return
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT" or options.get(READ_ONLY_OPTION):
        return  # a read (db.reading): no transaction to claim in
    claimed = connection.execute(_CLAIM[connection.dialect.name], stored.claim).first()
    if claimed is None:
        raise ClaimTaken(stored.key)
    stored.claim_state = "in_transaction"
    session.info[_SESSION_CLAIM] = stored


@sa_event.listens_for(Session, "after_commit")
def _claim_committed(session: Session) -> None:
    stored = session.info.pop(_SESSION_CLAIM, None)
    if isinstance(stored, StoredAnswer):
        stored.claim_state = "committed"


@sa_event.listens_for(Session, "after_transaction_end")
def _claim_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint ended, not the transaction the claim is in
    stored = session.info.pop(_SESSION_CLAIM, None)
    if isinstance(stored, StoredAnswer) and stored.claim_state == "in_transaction":
        stored.claim_state = "pending"  # rolled back with the work: claim it again later


def claim_values(
    merchant_id: str, key: str, method: str, path: str, fingerprint: str, now: datetime
) -> dict[str, Any]:
    """The claim row's columns (``in_progress``)."""
    return {
        "merchant_id": merchant_id,
        "key": key,
        "method": method,
        "path": path,
        "request_fingerprint": fingerprint,
        "status": "in_progress",
        "created_at": now,
    }
