"""Terminals: registration, the lease of the owning process, the pairing token store.

Several service processes may run against one database; each terminal's connection
is owned by one of them at a time. The lease is taken and renewed by one conditional
UPDATE (``WHERE lease_owner = me OR lease_owner IS NULL OR lease_until < now``): the
database decides who wins, never a read followed by a write. A process that stops
renewing loses the terminal when ``lease_until`` passes; another takes it.

The pairing token lives in the terminal's row, encrypted with the service's cipher
(:class:`DbTokenStore`, the ``cloverpay.remotepay`` token store the owner's connector
uses), so whichever process owns the terminal next pairs without a code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db import Terminal
from cloverpay.service.db.models_terminals import TERMINAL_KINDS
from cloverpay.service.errors import ConflictError, InvalidRequest, NotFound
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "DbTokenStore",
    "acquire_lease",
    "ensure_terminal",
    "forget_pairing",
    "get_terminal",
    "lease_is_live",
    "list_terminals",
    "owner_holds_lease",
    "register_terminal",
    "release_lease",
    "update_terminal",
]


def _check_url(url: str, kind: str) -> None:
    if kind == "lan" and not url.startswith(("ws://", "wss://")):
        raise InvalidRequest("a LAN terminal's URL is wss://<device>:12345/remote_pay", field="url")
    if kind == "cloud" and not url.startswith(("http://", "https://")):
        raise InvalidRequest("a cloud terminal's URL is Clover's server (https://…)", field="url")


def register_terminal(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    name: str,
    url: str,
    connection_kind: str = "lan",
    serial: str | None = None,
    device_id: str | None = None,
    pinned_sha256: str | None = None,
    auth_token: str | None = None,
    actor: str,
) -> Terminal:
    """Add a terminal (``auth_token``: a pairing token already known, e.g. the built-in
    emulated terminal's). The lease owner connects to it and pairs."""
    name = name.strip()
    if not name:
        raise InvalidRequest("a terminal needs a name", field="name")
    if connection_kind not in TERMINAL_KINDS:
        raise InvalidRequest("connection_kind must be lan or cloud", field="connection_kind")
    _check_url(url, connection_kind)
    if connection_kind == "cloud" and not device_id:
        raise InvalidRequest("a cloud terminal needs Clover's device id", field="device_id")
    now = ctx.now()
    try:
        with ctx.sessions.begin() as s:
            terminal = Terminal(
                merchant_id=merchant_id,
                name=name[:100],
                connection_kind=connection_kind,
                url=url,
                serial=serial,
                device_id=device_id,
                pinned_sha256=pinned_sha256,
                auth_token_enc=ctx.cipher.encrypt(auth_token) if auth_token else None,
                status="new",
                created_at=now,
                updated_at=now,
            )
            s.add(terminal)
            s.flush()
            add_audit(
                s,
                merchant_id=merchant_id,
                actor=actor,
                action="terminal.registered",
                entity_type="terminal",
                entity_id=terminal.id,
                data={"name": terminal.name, "kind": connection_kind, "url": url},
                now=now,
            )
    except IntegrityError:
        raise ConflictError(
            f"a terminal named {name!r} exists already", field="name", code="terminal_exists"
        ) from None
    return terminal


def ensure_terminal(
    ctx: ServiceContext,
    merchant_id: str,
    *,
    name: str,
    url: str,
    auth_token: str | None,
    actor: str,
) -> Terminal:
    """Register a LAN terminal, or point the one with that name at ``url`` with a fresh
    pairing token (``cloverpay up``: the built-in terminal listens on a new port, with
    new tokens, on each run)."""
    with ctx.sessions.begin() as s:
        terminal = s.scalar(
            select(Terminal).where(Terminal.merchant_id == merchant_id, Terminal.name == name)
        )
        if terminal is not None:
            terminal.url = url
            terminal.auth_token_enc = ctx.cipher.encrypt(auth_token) if auth_token else None
            terminal.status = "new"
            terminal.pairing_code = None
            terminal.lease_owner = None
            terminal.lease_until = None
            terminal.updated_at = ctx.now()
            return terminal
    return register_terminal(
        ctx, merchant_id, name=name, url=url, auth_token=auth_token, actor=actor
    )


def list_terminals(ctx: ServiceContext, merchant_id: str | None = None) -> list[Terminal]:
    """The merchant's terminals (every merchant's with None), by name."""
    with ctx.sessions() as s:
        stmt = select(Terminal).order_by(Terminal.name)
        if merchant_id is not None:
            stmt = stmt.where(Terminal.merchant_id == merchant_id)
        return list(s.scalars(stmt))


def get_terminal(ctx: ServiceContext, merchant_id: str | None, terminal_id: str) -> Terminal:
    with ctx.sessions() as s:
        terminal = s.get(Terminal, terminal_id)
    if terminal is None or (merchant_id is not None and terminal.merchant_id != merchant_id):
        raise NotFound(f"no terminal {terminal_id}", field="terminal_id")
    return terminal


def forget_pairing(ctx: ServiceContext, merchant_id: str, terminal_id: str, *, actor: str) -> None:
    """Drop the pairing token: the owner's next connection asks for a new code."""
    with ctx.sessions.begin() as s:
        terminal = s.get(Terminal, terminal_id)
        if terminal is None or terminal.merchant_id != merchant_id:
            raise NotFound(f"no terminal {terminal_id}", field="terminal_id")
        terminal.auth_token_enc = None
        terminal.status = "new"
        terminal.updated_at = ctx.now()
        add_audit(
            s,
            merchant_id=merchant_id,
            actor=actor,
            action="terminal.pairing_forgotten",
            entity_type="terminal",
            entity_id=terminal.id,
        )


def update_terminal(ctx: ServiceContext, terminal_id: str, **fields: Any) -> None:
    """Record what the owner saw (status, pairing code, last error)."""
    allowed = {"status", "pairing_code", "last_error", "serial", "device_id"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not terminal fields: {sorted(unknown)}")
    with ctx.sessions.begin() as s:
        s.execute(
            update(Terminal)
            .where(Terminal.id == terminal_id)
            .values(**fields, updated_at=ctx.now())
            .execution_options(synchronize_session=False)
        )


# -- the lease -----------------------------------------------------------------------


def acquire_lease(
    ctx: ServiceContext, terminal_id: str, owner: str, *, ttl_s: float, now: datetime | None = None
) -> bool:
    """Take or renew the terminal's lease for ``owner`` until ``now + ttl_s``.

    One conditional UPDATE: it matches only when the lease is free, expired or already
    ``owner``'s, so of two processes racing for a free terminal exactly one updates a
    row (PostgreSQL re-checks the WHERE after the row lock; SQLite serializes writers).
    Returns True when ``owner`` holds the lease afterwards."""
    now = now or ctx.now()
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(Terminal)
            .where(
                Terminal.id == terminal_id,
                Terminal.status != "disabled",
                or_(
                    Terminal.lease_owner == owner,
                    Terminal.lease_owner.is_(None),
                    Terminal.lease_until < now,
                ),
            )
            .values(
                lease_owner=owner,
                lease_until=now + timedelta(seconds=ttl_s),
                lease_renewed_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(ctx: ServiceContext, terminal_id: str, owner: str) -> bool:
    """Give the terminal up (only if ``owner`` holds it)."""
    with ctx.sessions.begin() as s:
        result = s.execute(
            update(Terminal)
            .where(Terminal.id == terminal_id, Terminal.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def lease_is_live(terminal: Terminal, now: datetime) -> bool:
    return (
        terminal.lease_owner is not None
        and terminal.lease_until is not None
        and terminal.lease_until >= now
    )


def owner_holds_lease(terminal: Terminal, owner: str | None, now: datetime) -> bool:
    """True while ``owner`` (the process that claimed a sale or op) still holds the
    terminal's lease: it may still be waiting for the device's answer. Once another
    process took the terminal, or nobody renewed it, the answer is lost with it."""
    return owner is not None and terminal.lease_owner == owner and lease_is_live(terminal, now)


class DbTokenStore:
    """The pairing token of one terminal, kept in its row and encrypted at rest (a
    :class:`cloverpay.remotepay.TokenStore`). Never logs the token."""

    def __init__(self, ctx: ServiceContext, terminal_id: str) -> None:
        self._ctx = ctx
        self.terminal_id = terminal_id

    def __repr__(self) -> str:
        return f"DbTokenStore(terminal_id={self.terminal_id!r})"

    def load(self) -> str | None:
        with self._ctx.sessions() as s:
            enc = s.scalar(select(Terminal.auth_token_enc).where(Terminal.id == self.terminal_id))
        return self._ctx.cipher.decrypt(enc) if enc else None

    def save(self, token: str | None) -> None:
        value = self._ctx.cipher.encrypt(token) if token else None
        with self._ctx.sessions.begin() as s:
            s.execute(
                update(Terminal)
                .where(Terminal.id == self.terminal_id)
                .values(
                    auth_token_enc=value,
                    pairing_code=None if token else Terminal.pairing_code,
                    updated_at=self._ctx.now(),
                )
                .execution_options(synchronize_session=False)
            )
