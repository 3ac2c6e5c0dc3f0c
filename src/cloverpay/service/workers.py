"""The background work a service process runs beside its API.

``cloverpay serve`` starts the reconciler (RELIABILITY rule 3), the email delivery
of the outbox, the delivery of events to merchants' CRMs
(``events_out``), the webhook inbox worker (rule 6, with its sweeper), the
subscriptions' billing run and the terminal connections
(:mod:`~cloverpay.service.terminal_runtime`: each terminal owned by one process through
its lease); all are safe with several processes against one database (claims with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite; terminal leases
by conditional UPDATE).
"""

from __future__ import annotations

import logging
import threading

from cloverpay.service import events_out
from cloverpay.service.outbox_email import Mailer, run_worker
from cloverpay.service.services import Reconciler, ServiceContext
from cloverpay.service.web import WebSettings
from cloverpay.service.webhooks import run_inbox_worker

__all__ = ["start_workers"]

log = logging.getLogger("cloverpay.service")


def _reconcile_forever(ctx: ServiceContext, stop: threading.Event, every_s: float) -> None:
    from cloverpay.service.terminal_runtime import runtime_for

    runtime = runtime_for(ctx)
    reconciler = Reconciler(ctx, terminal_resolver=runtime.resolver() if runtime else None)
    while not stop.wait(every_s):
        try:
            reconciler.run_once()
        except Exception:  # logged; the next pass retries
            log.exception("reconciler pass failed")


def _bill_forever(ctx: ServiceContext, stop: threading.Event, every_s: float) -> None:
    from cloverpay.service.services.subscriptions import BillingRun

    run = BillingRun(ctx)
    while not stop.wait(every_s):
        try:
            run.run_once()
        except Exception:  # logged; the next pass retries
            log.exception("billing run failed")


def start_workers(
    ctx: ServiceContext,
    web: WebSettings,
    stop: threading.Event,
    *,
    reconcile_every_s: float | None = 15.0,
    emails_every_s: float | None = 1.0,
    mailer: Mailer | None = None,
    billing_every_s: float | None = None,
    webhooks_every_s: float | None = 1.0,
    events_every_s: float | None = None,
    terminals: bool = True,
) -> list[threading.Thread]:
    """Start the reconciler, the email worker, the webhook inbox worker, the billing
    run and the events-out worker (None turns one off; billing and events are off
    unless asked for) as daemon threads that end when ``stop`` is set, and
    (``terminals``) the terminal runtime, stopped by a thread of its own once ``stop``
    is set; returns the threads so the caller can join them."""
    threads: list[threading.Thread] = []
    if terminals:
        from cloverpay.service.terminal_runtime import RuntimeOptions, TerminalRuntime

        options = RuntimeOptions.from_settings(ctx.settings)
        runtime = TerminalRuntime(ctx, options=options).start()

        def _stop_terminals() -> None:
            stop.wait()
            runtime.stop()

        threads.append(
            threading.Thread(
                target=_stop_terminals,
                name="cloverpay-terminals-stop",
                daemon=True,
            )
        )
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
    if billing_every_s is not None:
        threads.append(
            threading.Thread(
                target=_bill_forever,
                args=(ctx, stop, billing_every_s),
                name="cloverpay-billing",
                daemon=True,
            )
        )
    if webhooks_every_s is not None:
        threads.append(
            threading.Thread(
                target=run_inbox_worker,
                args=(ctx, stop),
                kwargs={"interval_s": webhooks_every_s},
                name="cloverpay-webhooks",
                daemon=True,
            )
        )
    if events_every_s is not None:
        threads.append(
            threading.Thread(
                target=events_out.run_worker,
                args=(ctx, stop),
                kwargs={"interval_s": events_every_s},
                name="cloverpay-events",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    return threads
