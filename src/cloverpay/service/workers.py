"""The background work a service process runs beside its API.

``cloverpay serve`` starts the reconciler (RELIABILITY rule 3) and the email delivery
of the outbox; both are safe with several processes against one database (claims with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).
"""

from __future__ import annotations

import logging
import threading

from cloverpay.service.outbox_email import Mailer, run_worker
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.web import WebSettings

__all__ = ["start_workers"]

log = logging.getLogger("cloverpay.service")


def _reconcile_forever(ctx: ServiceContext, stop: threading.Event, every_s: float) -> None:
    reconciler = Reconciler(ctx)
    while not stop.wait(every_s):
        try:
            reconciler.run_once()
        except Exception:  # logged; the next pass retries
            log.exception("reconciler pass failed")


def start_workers(
    ctx: ServiceContext,
    web: WebSettings,
    stop: threading.Event,
    *,
    reconcile_every_s: float | None = 15.0,
    emails_every_s: float | None = 1.0,
    mailer: Mailer | None = None,
) -> list[threading.Thread]:
    """Start the reconciler and the email worker (None turns one off) as daemon threads
    that end when ``stop`` is set; returns them so the caller can join them."""
    threads: list[threading.Thread] = []
    if reconcile_every_s is not None:
        threads.append(
            threading.Thread(
                target=_reconcile_forever,
                args=(ctx, stop, reconcile_every_s),
                name="cloverpay-reconciler",
                daemon=True,
            )
        )
    if emails_every_s is not None:
        threads.append(
            threading.Thread(
                target=run_worker,
                args=(ctx, web, stop),
                kwargs={"interval_s": emails_every_s, "mailer": mailer},
                name="cloverpay-emails",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    return threads
