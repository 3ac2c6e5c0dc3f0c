"""``cloverpay serve``'s background work: the reconciler and the email worker."""

from __future__ import annotations

import threading

from cloverpay.service.db import Merchant
from cloverpay.service.services import ServiceContext
from cloverpay.service.web import WebSettings
from cloverpay.service.workers import start_workers
from tests.service.web.test_outbox_email import RecordingMailer, _deliveries, _enqueue


def test_serve_workers_deliver_emails_then_stop(ctx: ServiceContext, merchant: Merchant) -> None:
    mailer = RecordingMailer()
    stop = threading.Event()
    workers = start_workers(
        ctx,
        WebSettings(),
        stop,
        reconcile_every_s=0.05,
        emails_every_s=0.05,
        mailer=mailer,
        terminals=False,
    )
    assert sorted(w.name for w in workers) == [
        "cloverpay-emails",
        "cloverpay-reconciler",
        "cloverpay-webhooks",
    ]
    _enqueue(ctx, merchant, 2)
    for _ in range(200):
        if len(_deliveries(ctx)) == 2:
            break
        stop.wait(0.05)
    stop.set()
    for w in workers:
        w.join(10)
    assert not [w for w in workers if w.is_alive()]
    assert sorted(m["To"] for m in mailer.sent) == ["c0@example.com", "c1@example.com"]


def test_each_worker_can_be_turned_off(ctx: ServiceContext) -> None:
    stop = threading.Event()
    stop.set()
    off = {
        "reconcile_every_s": None,
        "emails_every_s": None,
        "webhooks_every_s": None,
        "terminals": False,
    }
    assert start_workers(ctx, WebSettings(), stop, **off) == []  # type: ignore[arg-type]
    [only] = start_workers(ctx, WebSettings(), stop, **{**off, "emails_every_s": 1.0})  # type: ignore[arg-type]
    only.join(10)
    assert only.name == "cloverpay-emails"
    [hooks] = start_workers(ctx, WebSettings(), stop, **{**off, "webhooks_every_s": 1.0})  # type: ignore[arg-type]
    hooks.join(10)
    assert hooks.name == "cloverpay-webhooks"


def test_serve_workers_run_the_terminal_runtime(ctx: ServiceContext) -> None:
    from cloverpay.service.terminal_runtime import runtime_for

    stop = threading.Event()
    [stopper] = start_workers(
        ctx,
        WebSettings(),
        stop,
        reconcile_every_s=None,
        emails_every_s=None,
        webhooks_every_s=None,
        terminals=True,
    )
    assert stopper.name == "cloverpay-terminals-stop"
    assert runtime_for(ctx) is not None
    stop.set()
    stopper.join(20)
    assert not stopper.is_alive()
    assert runtime_for(ctx) is None
