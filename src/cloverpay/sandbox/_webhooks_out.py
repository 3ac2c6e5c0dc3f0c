"""Outgoing webhooks: app (platform) notifications and Hosted Checkout payment webhooks.

Two kinds (spec §11.2, §12):

* **App webhooks.** One callback URL per sandbox app. Registering it POSTs
  ``{"verificationCode": …}`` (no auth header); once the code is confirmed (through the
  control API, or automatically) the app gets an ``X-Clover-Auth`` code that every
  notification carries verbatim. Notifications are Clover's thin payload
  ``{"appId", "merchants": {mId: [{"objectId": "P:ID", "type", "ts"}]}}``, batched:
  events raised within ``batch_window`` seconds go out in one POST.
* **Hosted Checkout webhooks.** Per merchant URL + signing secret; the body is signed with
  ``Clover-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>``.

Delivery runs in one background thread (``WebhookDispatcher``) with its own httpx client,
so request handlers never wait on a receiver. A delivery is retried on a non-2xx answer or a
connection error with exponential backoff (``backoff_base * 2**n`` capped at
``backoff_cap``) up to ``max_attempts``; every attempt is logged in ``deliveries``.
Retry timing uses the wall clock (the sandbox's controllable clock only stamps payloads).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from ._webhooks_store import (
    AppWebhookConfig,
    Delivery,
    DeliveryAttempt,
    HostedCheckoutWebhookConfig,
    WebhookSettings,
    WebhookStore,
    sign_hosted_checkout,
)

__all__ = [
    "AppWebhookConfig",
    "Delivery",
    "DeliveryAttempt",
    "HostedCheckoutWebhookConfig",
    "WebhookDispatcher",
    "WebhookSettings",
    "WebhookStore",
    "sign_hosted_checkout",
]

log = logging.getLogger("cloverpay.sandbox.webhooks")

#: An idle sender thread ends after this many seconds; the next webhook starts another.
_IDLE_EXIT_S = 30.0


class WebhookDispatcher:
    """Background sender; thread-safe; its thread starts on first use.

    ``get_store`` returns the live ``WebhookStore`` (looked up on every use, so a sandbox
    reset that replaces the store needs no new dispatcher).
    """

    def __init__(
        self,
        get_store: Callable[[], WebhookStore],
        *,
        transport: httpx.BaseTransport | None = None,
        on_change: Callable[[Delivery], None] | None = None,
    ) -> None:
        self._get_store = get_store
        self._transport = transport
        self._on_change = on_change
        self._cond = threading.Condition()
        self._queue: list[Delivery] = []
        self._batch_due: float | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def store(self) -> WebhookStore:
        """The current store (the sandbox's reset replaces it)."""
        return self._get_store()

    # -- producers (any thread) --------------------------------------------------------

    # Lock order: the sandbox's state lock (held by callers of ``notify``) may be taken
    # before ``_cond``, never after it: ``self.store`` (which may take the state lock) is
    # always read before entering ``_cond``.

    def notify(self, merchant_id: str, object_id: str, kind: str, ts_ms: int) -> None:
        """Queue one app event (``object_id`` like ``"P:ABC"``, ``kind`` CREATE|UPDATE|DELETE)."""
        store = self.store
        with self._cond:
            app = store.app
            if app is None or not app.verified:
                return
            events = store.pending_events.setdefault(merchant_id, [])
            events.append({"objectId": object_id, "type": kind, "ts": ts_ms})
            if self._batch_due is None:
                self._batch_due = time.monotonic() + store.settings.batch_window
            self._ensure_thread()
            self._cond.notify_all()

    def send_hosted_checkout(self, merchant_id: str, payload: dict[str, Any], t: int) -> bool:
        """Queue a signed Hosted Checkout webhook; False if the merchant configured none."""
        store = self.store
        cfg = store.hosted_checkout.get(merchant_id)
        if cfg is None:
            return False
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "clover-signature": sign_hosted_checkout(cfg.signing_secret, body, t),
        }
        delivery = Delivery(str(uuid.uuid4()), "hosted_checkout", cfg.url, body, headers)
        with self._cond:
            store.log(delivery)
            self._queue.append(delivery)
            self._ensure_thread()
            self._cond.notify_all()
        return True

    def flush(self) -> None:
        """Send pending app events now instead of at the end of the batch window."""
        with self._cond:
            self._batch_due = time.monotonic()
            self._ensure_thread()
            self._cond.notify_all()

    def retry_now(self) -> int:
        """Make every waiting retry due at once; returns how many were waiting."""
        with self._cond:
            now = time.monotonic()
            for delivery in self._queue:
                delivery.next_attempt_at = now
            self._cond.notify_all()
            return len(self._queue)

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a logged delivery again, byte for byte (same body and headers), as a new
        delivery: what a receiver sees when Clover delivers twice."""
        store = self.store
        with self._cond:
            original = next((d for d in store.deliveries if d.id == delivery_id), None)
            if original is None or original.kind == "verification":
                raise LookupError(f"no app or Hosted Checkout delivery {delivery_id}")
            copy = Delivery(
                str(uuid.uuid4()),
                original.kind,
                original.url,
                original.body,
                dict(original.headers),
            )
            store.log(copy)
            self._queue.append(copy)
            self._ensure_thread()
            self._cond.notify_all()
            return copy

    def snapshot(self) -> list[dict[str, Any]]:
        """The delivery log as JSON, consistent with the sender thread."""
        store = self.store
        with self._cond:
            return [d.to_json() for d in store.deliveries]

    # -- verification handshake (runs in the caller; bounded by the timeout) ------------

    async def handshake(self, config: AppWebhookConfig) -> AppWebhookConfig:
        body = json.dumps({"verificationCode": config.verification_code}).encode()
        delivery = Delivery(
            str(uuid.uuid4()),
            "verification",
            config.url,
            body,
            {"content-type": "application/json"},
        )
        store = self.store
        with self._cond:
            store.log(delivery)
        try:
            async with httpx.AsyncClient(timeout=store.settings.timeout) as client:
                response = await client.post(config.url, content=body, headers=delivery.headers)
            status: int | None = response.status_code
            error = None if 200 <= response.status_code < 300 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            status, error = None, type(exc).__name__
        with self._cond:
            delivery.attempts.append(DeliveryAttempt(time.time(), status, error))
            delivery.state = "delivered" if error is None else "failed"
            config.handshake_status, config.handshake_error = status, error
        return config

    # -- worker ------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="cloverpay-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take_batch(self, store: WebhookStore, now: float) -> None:
        """Turn pending app events into one delivery (caller holds ``_cond``)."""
        app = store.app
        events, store.pending_events = store.pending_events, {}
        self._batch_due = None
        if not events or app is None or not app.verified or app.auth_code is None:
            return
        body = json.dumps({"appId": app.app_id, "merchants": events}).encode()
        headers = {"content-type": "application/json", "x-clover-auth": app.auth_code}
        delivery = Delivery(str(uuid.uuid4()), "app", app.url, body, headers, next_attempt_at=now)
        store.log(delivery)
        self._queue.append(delivery)

    def _next_due(self, now: float) -> tuple[Delivery | None, float | None]:
        due = [d for d in self._queue if d.next_attempt_at <= now]
        if due:
            return min(due, key=lambda d: d.next_attempt_at), None
        waits = [d.next_attempt_at - now for d in self._queue]
        if self._batch_due is not None:
            waits.append(self._batch_due - now)
        return None, (min(waits) if waits else None)

    def _run(self) -> None:
        with httpx.Client(timeout=self.store.settings.timeout, transport=self._transport) as client:
            while True:
                store = self.store  # read outside _cond (see the lock order above)
                with self._cond:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._batch_due is not None and self._batch_due <= now:
                        self._take_batch(store, now)
                    delivery, wait = self._next_due(now)
                    if delivery is None:
                        if wait is not None:
                            self._cond.wait(timeout=max(wait, 0.0))
                            continue
                        woken = self._cond.wait(timeout=_IDLE_EXIT_S)
                        if not woken and not self._queue and self._batch_due is None:
                            self._thread = None  # idle: let the thread end
                            return
                        continue
                    self._queue.remove(delivery)
                self._attempt(client, store.settings, delivery)

    def _attempt(self, client: httpx.Client, settings: WebhookSettings, delivery: Delivery) -> None:
        try:
            response = client.post(delivery.url, content=delivery.body, headers=delivery.headers)
            status: int | None = response.status_code
            error = None if 200 <= response.status_code < 300 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            status, error = None, type(exc).__name__
        with self._cond:
            delivery.attempts.append(DeliveryAttempt(time.time(), status, error))
            n = len(delivery.attempts)
            if error is None:
                delivery.state = "delivered"
            elif n >= settings.max_attempts:
                delivery.state = "failed"
                log.warning(
                    "webhook %s to %s failed after %d attempts",
                    delivery.id,
                    delivery.url.split("?")[0],
                    n,
                )
            else:
                delay = min(settings.backoff_cap, settings.backoff_base * 2 ** (n - 1))
                delivery.next_attempt_at = time.monotonic() + delay
                self._queue.append(delivery)
            self._cond.notify_all()
        if self._on_change is not None:
            self._on_change(delivery)
