"""Staff logins: scrypt-hashed passwords, an HMAC-signed session cookie, CSRF tokens.

The session cookie holds the staff user id, an expiry and a CSRF token, signed with a
key derived from the service's secret key; it is ``HttpOnly`` and ``SameSite=Lax``.
Every dashboard form carries the CSRF token of the session and every POST checks it
(the login form uses a double-submit cookie, as there is no session yet).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloverpay.service.db.models_web import StaffUser
from cloverpay.service.errors import InvalidRequest
from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.records import add_audit

__all__ = [
    "SESSION_COOKIE",
    "LoginRequired",
    "StaffSession",
    "authenticate_staff",
    "create_staff_user",
    "hash_password",
    "read_session",
    "sign_session",
    "verify_password",
]

SESSION_COOKIE = "cloverpay_staff"
_N, _R, _P = 2**14, 8, 1


class LoginRequired(Exception):
    """No valid staff session: the dashboard redirects to its login page."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(got.hex(), digest)


def create_staff_user(
    ctx: ServiceContext, merchant_id: str, *, email: str, password: str, name: str | None = None
) -> StaffUser:
    """A new staff login (or the existing one with this email, unchanged)."""
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidRequest("email must be an email address", field="email")
    if len(password) < 8:
        raise InvalidRequest("password must have at least 8 characters", field="password")
    try:
        with ctx.sessions.begin() as s:
            user = StaffUser(
                merchant_id=merchant_id,
                email=email,
                name=name,
                password_hash=hash_password(password),
            )
            s.add(user)
            s.flush()
            add_audit(
                s,
                merchant_id=merchant_id,
                actor="system",
                action="staff_user.created",
                entity_type="staff_user",
                entity_id=user.id,
            )
        return user
    except IntegrityError:
        with ctx.sessions() as s:
            return s.scalars(select(StaffUser).where(StaffUser.email == email)).one()


def authenticate_staff(ctx: ServiceContext, email: str, password: str) -> StaffUser | None:
    with ctx.sessions() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or user.disabled_at is not None:
        hash_password(password)  # same work whether or not the user exists
        return None
    return user if verify_password(password, user.password_hash) else None


@dataclass(frozen=True, slots=True)
class StaffSession:
    user_id: str
    merchant_id: str
    email: str
    csrf: str
    expires: int

    @property
    def actor(self) -> str:
        return f"staff:{self.email}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(key: bytes, user: StaffUser, *, ttl_s: int) -> str:
    body = {
        "u": user.id,
        "m": user.merchant_id,
        "e": user.email,
        "c": secrets.token_urlsafe(24),
        "x": int(time.time()) + ttl_s,
    }
    raw = _b64(json.dumps(body, separators=(",", ":")).encode())
    sig = _b64(hmac.new(key, raw.encode(), hashlib.sha256).digest())
    return f"{raw}.{sig}"


def read_session(key: bytes, cookie: str | None) -> StaffSession:
    if not cookie or "." not in cookie:
        raise LoginRequired()
    raw, sig = cookie.rsplit(".", 1)
    good = _b64(hmac.new(key, raw.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, good):
        raise LoginRequired()
    try:
        body = json.loads(_unb64(raw))
    except ValueError:
        raise LoginRequired() from None
    if int(body["x"]) < time.time():
        raise LoginRequired()
    return StaffSession(body["u"], body["m"], body["e"], body["c"], int(body["x"]))
