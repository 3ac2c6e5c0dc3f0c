"""Everything the sandbox knows, in one object shared by every transport.

:class:`SandboxState` is used by the in-process transports and by the real-socket
server alike (moto's model: one state, several front doors). It holds:

* the merchant(s) and their credentials, and lookup dicts from bearer token and PAKMS
  key to merchant (``access_tokens``, ``api_keys``; OAuth adds tokens through
  :meth:`SandboxState.add_access_token`);
* :class:`SandboxConfig`: switches for behaviour the spec marks as guessed;
* the clock, the id generator, the event log, the fault injector, the idempotency
  store and the rate limiter;
* domain stores. Ecommerce stores are the ``ecommerce`` field. Other domains do not
  edit this module: they call ``state.domain(MyStores)``, which creates an instance of
  their dataclass on first use and drops it on :meth:`reset`;
* a notification hook, :meth:`SandboxState.notify`, called on every change to a
  payment ("P"), order ("O"), customer ("C") ... with the keys Clover's app webhooks use.
  Webhook delivery subscribes with :meth:`SandboxState.subscribe`.

Mutations happen under :attr:`SandboxState.lock` (a re-entrant lock) and never
``await`` while holding it, so the state is safe across the event loop of the
in-process transport and the server thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ._clock import Clock
from ._events import EventLog
from ._faults import FaultInjector
from ._idempotency import IdempotencyStore
from ._ids import IdGenerator
from ._ratelimit import RateLimiter
from ._records import EcommerceStores

__all__ = [
    "ChangeKind",
    "Merchant",
    "Notification",
    "SandboxConfig",
    "SandboxState",
]

ChangeKind = Literal["CREATE", "UPDATE", "DELETE"]
D = TypeVar("D")


@dataclass(slots=True)
class Merchant:
    """A sandbox merchant and the credentials a developer would hold for it."""

    merchant_id: str
    name: str
    access_token: str
    api_access_key: str
    app_id: str
    app_secret: str
    created_ms: int
    #: tax rate uuid -> (name, rate as Clover's integer, 10 % = 1_000_000)
    tax_rates: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notification:
    """One change, as Clover's app webhooks report it (``objectId = key:id``)."""

    merchant_id: str
    key: str
    object_id: str
    kind: ChangeKind
    ts_ms: int

    @property
    def clover_object_id(self) -> str:
        return f"{self.key}:{self.object_id}"


@dataclass(slots=True)
class SandboxConfig:
    """Switches for behaviour Clover's docs leave open. Defaults follow the spec."""

    #: HTTP status of a card decline: 402 or 400 (spec §13.1 [!]).
    decline_status: int = 402
    #: Same idempotency key with another body: 400 or 409 (spec §13.4 [G]).
    idempotency_conflict_status: int = 400
    #: Idempotency keys are forgotten after this many (sandbox clock) seconds [G].
    idempotency_ttl_s: float = 24 * 3600
    #: 401 body on Ecommerce routes: flat ``{"message"}`` or nested ``{"error"}`` [G].
    ecommerce_auth_error_shape: Literal["flat", "nested"] = "flat"
    #: Ecommerce error bodies also carry a top-level ``"message"`` (Clover's Node SDK
    #: needs it to see an error at all; see :mod:`._errors`).
    ecommerce_error_message: bool = True
    #: Requests larger than this are refused with 413.
    max_body_bytes: int = 1 << 20
    #: ``x-forwarded-for`` required on charge create and order pay (spec §2 [C2]).
    require_forwarded_for: bool = True
    #: An uncaptured charge can be captured for this many (sandbox clock) seconds, then
    #: capture fails with ``charge_expired_for_capture``; Clover gives no figure [G].
    preauth_ttl_s: float = 7 * 24 * 3600
    #: A refund of a charge not yet captured releases the authorization (in full only;
    #: the charge can no longer be captured) instead of being refused. Clover documents
    #: no void call for an Ecommerce authorization; a refund doing it is a guess [G].
    refund_releases_authorization: bool = False
    #: ``POST /v1/refunds`` with ``charge`` = a card-present (v3, terminal) payment id
    #: refunds that payment (the v3 payment then lists the refund) instead of 404.
    #: Clover's docs speak of Ecommerce charges only there; a charge id is a v3
    #: payment id, so this is the guess a REST refund of a terminal payment rests on [G].
    refunds_of_terminal_payments: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "decline_status": self.decline_status,
            "idempotency_conflict_status": self.idempotency_conflict_status,
            "idempotency_ttl_s": self.idempotency_ttl_s,
            "ecommerce_auth_error_shape": self.ecommerce_auth_error_shape,
            "ecommerce_error_message": self.ecommerce_error_message,
            "max_body_bytes": self.max_body_bytes,
            "require_forwarded_for": self.require_forwarded_for,
            "preauth_ttl_s": self.preauth_ttl_s,
            "refund_releases_authorization": self.refund_releases_authorization,
            "refunds_of_terminal_payments": self.refunds_of_terminal_payments,
        }


class SandboxState:
    """The whole emulated Clover. See the module docstring."""

    def __init__(self, seed: int | None = None, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.clock = Clock()
        self.events = EventLog()
        self.faults = FaultInjector()
        self.idempotency = IdempotencyStore()
        self.ratelimiter = RateLimiter()
        self._listeners: list[Callable[[Notification], None]] = []
        self._clock_listeners: list[Callable[[SandboxState], None]] = []
        self._domains: dict[type[Any], Any] = {}
        self.seed: int | None = seed
        self.ids = IdGenerator(seed)
        self.merchants: dict[str, Merchant] = {}
        self.access_tokens: dict[str, str] = {}
        #: token -> epoch second it stops working (OAuth tokens; sandbox clock)
        self.access_token_expiry: dict[str, int] = {}
        self.api_keys: dict[str, str] = {}
        self.ecommerce: EcommerceStores = EcommerceStores()
        self.merchant: Merchant = self._create_default_merchant()

    # -- lifecycle -------------------------------------------------------------------

    def reset(self, seed: int | None = None, *, keep_seed: bool = True) -> None:
        """Forget every object, fault, idempotency key, event and clock offset.

        Config, rate-limit switch and notification listeners stay. With ``seed`` the
        id sequence restarts from that seed (credentials are derived from it too). An
        unseeded sandbox keeps its first merchant's credentials, so a client configured
        from the startup line keeps working across resets.
        """
        with self.lock:
            if seed is not None or not keep_seed:
                self.seed = seed
            keep = self.merchant if self.seed is None else None
            self.ids = IdGenerator(self.seed)
            self.clock.reset()
            self.events.clear()
            self.faults.clear()
            self.idempotency.clear()
            self.ratelimiter.clear()
            self._domains.clear()
            self.merchants.clear()
            self.access_tokens.clear()
            self.access_token_expiry.clear()
            self.api_keys.clear()
            self.ecommerce = EcommerceStores()
            self.merchant = self._create_default_merchant()
            if keep is not None:
                self._restore_credentials(self.merchant, keep)

    def _create_default_merchant(self) -> Merchant:
        return self.add_merchant("Sandbox Test Merchant")

    def _restore_credentials(self, merchant: Merchant, old: Merchant) -> None:
        del self.merchants[merchant.merchant_id]
        self.access_tokens.pop(merchant.access_token, None)
        self.api_keys.pop(merchant.api_access_key, None)
        for attr in ("merchant_id", "access_token", "api_access_key", "app_id", "app_secret"):
            setattr(merchant, attr, getattr(old, attr))
        self.merchants[merchant.merchant_id] = merchant
        self.access_tokens[merchant.access_token] = merchant.merchant_id
        self.api_keys[merchant.api_access_key] = merchant.merchant_id

    def add_merchant(self, name: str) -> Merchant:
        """Create a merchant with fresh credentials (ids from the seeded generator)."""
        ids = self.ids
        merchant = Merchant(
            merchant_id=ids.clover_id(),
            name=name,
            access_token=ids.uuid(),
            api_access_key=ids.secret(32),
            app_id=ids.clover_id(),
            app_secret=ids.uuid(),
            created_ms=self.clock.now_ms(),
        )
        merchant.tax_rates[ids.clover_id()] = ("Sales Tax", 1_000_000)
        with self.lock:
            self.merchants[merchant.merchant_id] = merchant
            self.access_tokens[merchant.access_token] = merchant.merchant_id
            self.api_keys[merchant.api_access_key] = merchant.merchant_id
        return merchant

    # -- credentials -----------------------------------------------------------------

    def add_access_token(
        self, token: str, merchant_id: str, *, expires_s: int | None = None
    ) -> None:
        """Accept ``token`` as a bearer token for ``merchant_id`` (OAuth issues these),
        until the sandbox clock reaches ``expires_s`` (epoch seconds) if given."""
        with self.lock:
            self.access_tokens[token] = merchant_id
            if expires_s is not None:
                self.access_token_expiry[token] = expires_s

    def revoke_access_token(self, token: str) -> None:
        with self.lock:
            self.access_tokens.pop(token, None)
            self.access_token_expiry.pop(token, None)

    def merchant_for_token(self, token: str) -> Merchant | None:
        mid = self.access_tokens.get(token)
        expires = self.access_token_expiry.get(token)
        if expires is not None and self.clock.now_s() >= expires:
            return None
        return None if mid is None else self.merchants.get(mid)

    def merchant_for_api_key(self, key: str) -> Merchant | None:
        mid = self.api_keys.get(key)
        return None if mid is None else self.merchants.get(mid)

    # -- other domains ---------------------------------------------------------------

    def domain(self, cls: type[D]) -> D:
        """The store object of another domain (OAuth, checkout, recurring, ...).

        ``cls`` is a no-argument dataclass; one instance is created on first use and
        forgotten on :meth:`reset`.
        """
        obj = self._domains.get(cls)
        if obj is None:
            with self.lock:
                obj = self._domains.get(cls)
                if obj is None:
                    obj = self._domains[cls] = cls()
        return obj

    # -- clock -----------------------------------------------------------------------

    def on_clock_advance(self, listener: Callable[[SandboxState], None]) -> None:
        """Call ``listener(state)`` after every :meth:`advance_clock` (recurring billing)."""
        self._clock_listeners.append(listener)

    def advance_clock(self, seconds: float) -> float:
        """Move the clock forward, then run the clock listeners (errors are logged)."""
        offset = self.clock.advance(seconds)
        for listener in list(self._clock_listeners):
            try:
                listener(self)
            except Exception as exc:
                self.events.add("clock_listener_error", error=type(exc).__name__)
        return offset

    # -- notifications ---------------------------------------------------------------

    def subscribe(self, listener: Callable[[Notification], None]) -> Callable[[], None]:
        """Call ``listener`` on every change; returns an unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def notify(
        self, key: str, object_id: str, kind: ChangeKind, *, merchant_id: str | None = None
    ) -> Notification:
        """Report a change (``key`` as in Clover webhooks: "P", "O", "C", ...).

        Listener errors are recorded in the event log and never fail the request.
        """
        note = Notification(
            merchant_id or self.merchant.merchant_id, key, object_id, kind, self.clock.now_ms()
        )
        for listener in list(self._listeners):
            try:
                listener(note)
            except Exception as exc:
                self.events.add("listener_error", error=type(exc).__name__)
        return note
