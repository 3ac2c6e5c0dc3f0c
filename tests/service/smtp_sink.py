"""A real SMTP server on a socket for the email tests: it speaks enough of RFC 5321
(EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) for ``smtplib`` to
deliver to it, and keeps each message's bytes as received, parsed back with the stdlib
parser. No STARTTLS and no AUTH: the tests point ``WebSettings`` at it with
``smtp_starttls=False``."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from cloverpay.service.web import WebSettings


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        """The message as a mailbox keeps it (the wire's CRLF line ends as LF)."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data.replace(b"\r\n", b"\n"))
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def web(self) -> WebSettings:
        """Service settings that send through this server."""
        return WebSettings(smtp_host=self.host, smtp_port=self.port, smtp_starttls=False)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message() for r in self.received]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 sink.test ESMTP")
        mail_from, rcpt_to = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250-sink.test" if verb == "EHLO" else "250 sink.test")
                if verb == "EHLO":
                    self._reply("250-8BITMIME")
                    self._reply("250 SIZE 10485760")
            elif verb == "MAIL":
                mail_from, rcpt_to = line[10:].strip(), []
                self._reply("250 OK")
            elif verb == "RCPT":
                rcpt_to.append(line[8:].strip())
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                self._data(mail_from, rcpt_to)
                self._reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")

    def _data(self, mail_from: str, rcpt_to: list[str]) -> None:
        lines: list[bytes] = []
        while True:
            raw = self.rfile.readline()
            if raw in (b".\r\n", b".\n", b""):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        sink = self.server.sink
        with sink.lock:
            sink.received.append(Received(mail_from, list(rcpt_to), b"".join(lines)))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    server = _Server(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.sink = SmtpSink(str(host), int(port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
