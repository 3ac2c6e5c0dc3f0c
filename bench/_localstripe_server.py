"""localstripe (the peer) on 127.0.0.1, run with the peers' venv (bench/setup-peers).

Same shape as ``_sandbox_server.py``: bind, print one JSON line with the port, serve.
localstripe's own ``start()`` binds every interface and logs each request to stderr;
this wrapper binds 127.0.0.1 only and turns the access log off (as our server runs),
and skips loading a previous store from disk (``--from-scratch``). Everything else,
including its write path (it pickles its whole store to /tmp after every POST), is
localstripe's own.
"""

from __future__ import annotations

import json
import socket
import sys

from aiohttp import web
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sys.stdout.write(json.dumps({"port": sock.getsockname()[1]}) + "\n")
    sys.stdout.flush()
    web.run_app(app, sock=sock, access_log=None, print=None)


if __name__ == "__main__":
    main()
