"""Identifiers in Clover's formats, deterministic under a seed.

* Clover ids (merchants, charges, orders, customers, refunds, cards): 13 upper-case
  alphanumeric characters from a Crockford-like alphabet, e.g. ``TC4DGCJW1K4EW``.
* Card tokens: ``clv_1TST`` followed by 20 mixed-case alphanumerics (test tokens).
* Checkout sessions and other RFC-4122 identifiers: random (version 4) UUIDs.

With a seed, the same sequence of calls yields the same ids, so a test or a demo can be
replayed byte for byte. Without a seed the generator draws from the OS.
"""

from __future__ import annotations

import base64
import random
import uuid

__all__ = ["CLOVER_ID_ALPHABET", "IdGenerator"]

#: Crockford base-32 alphabet (no I, L, O, U), the characters seen in Clover ids.
CLOVER_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_B64_TO_ALNUM = bytes.maketrans(b"+/", b"Xq")  # 64 symbols folded onto 62
# base32 output (A-Z, 2-7) mapped onto the Crockford alphabet, byte for byte
_TO_CLOVER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CLOVER_ID_ALPHABET.encode())


class IdGenerator:
    """Produces ids; ``seed=None`` means non-deterministic (OS randomness)."""

    __slots__ = ("_rng", "seed")

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng: random.Random = (
            random.Random(seed) if seed is not None else random.SystemRandom()
        )

    def clover_id(self) -> str:
        """A 13-character Clover id."""
        raw = base64.b32encode(self._rng.randbytes(10))[:13]
        return raw.translate(_TO_CLOVER).decode()

    def token(self, prefix: str = "clv_1TST") -> str:
        """A card token: ``clv_1TST`` + 20 alphanumerics."""
        raw = base64.b64encode(self._rng.randbytes(15)).translate(_B64_TO_ALNUM)
        return prefix + raw.decode()

    def secret(self, length: int = 32) -> str:
        """A lower-case hex secret (api keys, access tokens, app secrets)."""
        return "".join(self._rng.choices("0123456789abcdef", k=length))

    def uuid(self) -> str:
        """A version-4 UUID string (checkout sessions)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def digits(self, length: int) -> str:
        """A string of decimal digits (reference numbers, auth codes)."""
        return str(self._rng.randrange(10**length)).zfill(length)
