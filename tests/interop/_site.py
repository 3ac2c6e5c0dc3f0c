"""A tiny web server on 127.0.0.1 for the interop tests: static pages plus JSON routes.

It plays the merchant's own site (a page on another origin than the sandbox, and its
backend) and the pages Hosted Checkout redirects to. Every request it receives is
recorded (method, path, query, headers, raw body) so tests can assert what the
merchant side did and did not see.
"""

from __future__ import annotations

import html
import json
import mimetypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["JsonRoute", "LocalSite", "Received", "local_site"]


@dataclass(frozen=True)
class Received:
    """One request the site received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


#: A route: gets the request, returns (status, payload); a ``str`` payload is sent as
#: HTML, anything else as JSON.
JsonRoute = Callable[[Received], tuple[int, Any]]


@dataclass
class LocalSite:
    """Static files from ``root`` (optional), routes, and a record of requests.

    ``.html`` files are served with ``{{NAME}}`` replaced from :attr:`template_vars`,
    the way a merchant's server renders its checkout page with its public key.
    """

    root: Path | None = None
    routes: dict[tuple[str, str], JsonRoute] = field(default_factory=dict)
    template_vars: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, method: str, path: str, handler: JsonRoute) -> None:
        self.routes[(method.upper(), path)] = handler

    def url(self, path: str) -> str:
        return self.base_url + path

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _record(self, rec: Received) -> None:
        with self._lock:
            self.received.append(rec)


def _handler_for(site: LocalSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _receive(self) -> Received:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            rec = Received(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            site._record(rec)
            return rec

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _dispatch(self) -> None:
            rec = self._receive()
            if rec.path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
                return
            route = site.routes.get((rec.method, rec.path))
            if route is not None:
                status, payload = route(rec)
                if isinstance(payload, str):
                    self._send(status, payload.encode(), "text/html; charset=utf-8")
                else:
                    self._send(status, json.dumps(payload).encode(), "application/json")
                return
            if rec.method == "GET" and site.root is not None:
                name = rec.path.lstrip("/") or "index.html"
                file = (site.root / name).resolve()
                if file.is_file() and site.root.resolve() in file.parents:
                    ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    data = file.read_bytes()
                    if file.suffix == ".html":
                        text = data.decode()
                        for key, value in site.template_vars.items():
                            text = text.replace("{{" + key + "}}", html.escape(value))
                        data = text.encode()
                        ctype = "text/html; charset=utf-8"
                    self._send(200, data, ctype)
                    return
            self._send(404, b"not found", "text/plain")

        do_GET = _dispatch
        do_POST = _dispatch

    return Handler


@contextmanager
def local_site(root: Path | None = None) -> Iterator[LocalSite]:
    """Serve a :class:`LocalSite` on a free port of 127.0.0.1 for the ``with`` body."""
    site = LocalSite(root=root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(site))
    server.daemon_threads = True
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="local-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
