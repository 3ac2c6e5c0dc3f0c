"""Content Security Policy of the pay page and Subresource Integrity of our scripts.

The policy allows scripts only from our origin and Clover's SDK host, frames only from
Clover's host, no inline script and no ``eval``; styles only from our origin. Our own
static files are served with their sha384 digest, which the templates put in
``integrity=`` attributes.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["STATIC_DIR", "csp_header", "origin_of", "sri"]

STATIC_DIR = Path(__file__).parent / "static"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def csp_header(
    *,
    clover_origin: str | None,
    form_targets: tuple[str, ...] = (),
    frame_sources: tuple[str, ...] = (),
) -> str:
    """``frame_sources``: more sources of frames than Clover's host (the dashboard's
    email preview frames its own ``'self'`` page)."""
    clover = f" {clover_origin}" if clover_origin else ""
    targets = "".join(f" {t}" for t in form_targets)
    frames = clover + "".join(f" {f}" for f in frame_sources)
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self'{clover}",
            f"frame-src{frames or ' ' + chr(39) + 'none' + chr(39)}",
            f"connect-src 'self'{clover}",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"form-action 'self'{targets}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


@lru_cache(maxsize=64)
def sri(name: str) -> str:
    """``sha384-...`` of a file under ``static/``."""
    data = (STATIC_DIR / name).read_bytes()
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
