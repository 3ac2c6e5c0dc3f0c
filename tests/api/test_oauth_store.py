"""Token stores: compare-and-swap, the file store (mode, atomicity, encryption at
rest, locks across real processes), async stores and the thread adapter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from cloverpay.api import (
    CloverOAuth,
    ConfigurationError,
    FileTokenStore,
    InMemoryTokenStore,
    OAuthError,
    OAuthToken,
    TokenStore,
)
from cloverpay.api._oauth_store import ThreadedStore

M = "MERCHANT00001"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def tok(access: str, refresh: str | None, expires: float = 2e9, **extra: object) -> OAuthToken:
    return OAuthToken.model_validate(
        {
            "access_token": access,
            "access_token_expiration": int(expires),
            "refresh_token": refresh,
            **extra,
        }
    )


@pytest.fixture(params=["memory", "file", "file+fernet"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TokenStore:
    if request.param == "memory":
        return InMemoryTokenStore()
    codec = Fernet(Fernet.generate_key()) if request.param == "file+fernet" else None
    return FileTokenStore(tmp_path / "tokens.json", codec=codec)


def test_store_contract(store: TokenStore) -> None:
    assert isinstance(store, TokenStore)
    assert store.get(M) is None
    first = tok("a1", "r1", merchant_id=M)
    assert store.save(M, first)
    got = store.get(M)
    assert got == first
    assert got is not None
    assert got.model_extra == {"merchant_id": M}
    # compare-and-swap: only the holder of the current refresh token may replace it
    assert not store.save(M, tok("a2", "r2"), replaces="r0")
    assert store.get(M) == first
    assert store.save(M, tok("a2", "r2"), replaces="r1")
    assert not store.save(M, tok("a3", "r3"), replaces="r1")
    got = store.get(M)
    assert got is not None
    assert got.access_token.get_secret_value() == "a2"
    assert not store.save("OTHER", tok("x", "y"), replaces="r2")
    assert store.save("OTHER", tok("x", "y"))
    assert store.get("OTHER") == tok("x", "y")
    assert store.get(M) == got
    with store.lock(M):
        pass
    assert "a2" not in repr(store)
    assert "r2" not in repr(store)


def test_store_lock_excludes_other_threads(store: TokenStore) -> None:
    inside = 0
    worst = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, worst
        for _ in range(20):
            with store.lock(M):
                with guard:
                    inside += 1
                    worst = max(worst, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worst == 1


def test_file_store_is_private_atomic_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tokens.json"
    store = FileTokenStore(path)
    store.save(M, tok("acc-plain", "ref-plain"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data[M]["access_token"] == "acc-plain"
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.json", "tokens.json.locks"]
    assert store.merchants() == [M]
    assert FileTokenStore(path).get(M) == tok("acc-plain", "ref-plain")


def test_file_store_encrypts_at_rest(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    path = tmp_path / "tokens.bin"
    FileTokenStore(path, codec=Fernet(key)).save(M, tok("acc-plain", "ref-plain"))
    raw = path.read_bytes()
    assert b"acc-plain" not in raw
    assert b"ref-plain" not in raw
    assert FileTokenStore(path, codec=Fernet(key)).get(M) == tok("acc-plain", "ref-plain")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{not json secret-ish", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"MERCHANT00001": 5}', "is not an object"),
        (b'{"MERCHANT00001": {"access_token": ["leak-me"]}}', "access_token"),
    ],
)
def test_file_store_corruption_is_reported_without_content(
    tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(OAuthError, match=match) as info:
        FileTokenStore(path).get(M)
    assert "secret-ish" not in str(info.value)
    assert "leak-me" not in str(info.value)


def test_file_store_leaves_no_temp_file_when_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    store.save(M, tok("a1", "r1"))

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.save(M, tok("a2", "r2"))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json", "tokens.json.locks"]
    assert store.get(M) == tok("a1", "r1")


def test_file_store_odd_merchant_ids_get_safe_lock_names(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "t.json")
    with store.lock("../../etc/passwd"):
        pass
    locks = sorted(p.name for p in (tmp_path / "t.json.locks").iterdir())
    assert all("/" not in name and ".." not in name for name in locks)


# --- async stores -----------------------------------------------------------------------


class AsyncDictStore:
    """What a service's asyncpg-backed store looks like, minus the database."""

    def __init__(self, token: OAuthToken) -> None:
        self.tokens = {M: token}
        self._lock = asyncio.Lock()
        self.saves: list[str | None] = []

    async def get(self, merchant_id: str) -> OAuthToken | None:
        await asyncio.sleep(0)
        return self.tokens.get(merchant_id)

    async def save(
        self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None
    ) -> bool:
        current = self.tokens.get(merchant_id)
        held = current.refresh_token if current else None
        if replaces is not None and (held is None or held.get_secret_value() != replaces):
            return False
        self.tokens[merchant_id] = token
        self.saves.append(replaces)
        return True

    @contextlib.asynccontextmanager
    async def lock(self, merchant_id: str) -> AsyncIterator[None]:
        async with self._lock:
            yield


def refresher(spent: list[str]) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/refresh":
            old = json.loads(request.content)["refresh_token"]
            assert old not in spent, "refresh token presented twice"
            spent.append(old)
            await asyncio.sleep(0.02)
            return httpx.Response(
                200, json=tok(f"acc-{len(spent)}", f"ref-{len(spent)}").to_storage_dict()
            )
        return httpx.Response(200)

    return httpx.MockTransport(handler)


@pytest.mark.anyio
async def test_async_store_is_used_natively() -> None:
    store = AsyncDictStore(tok("acc-0", "ref-0", expires=0))
    auth = CloverOAuth("APP", M, store=store)
    spent: list[str] = []
    async with httpx.AsyncClient(transport=refresher(spent), auth=auth) as http:
        responses = await asyncio.gather(*(http.get("https://x/y") for _ in range(10)))
    assert all(r.request.headers["authorization"] == "Bearer acc-1" for r in responses)
    assert spent == ["ref-0"]
    assert store.saves == ["ref-0"]


def test_async_store_refuses_the_sync_flow() -> None:
    auth = CloverOAuth("APP", M, store=AsyncDictStore(tok("a", "r")))
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)), auth=auth) as h,
        pytest.raises(ConfigurationError, match="AsyncClient"),
    ):
        h.get("https://x/y")


@pytest.mark.anyio
async def test_sync_file_store_in_the_async_flow(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(M, tok("acc-0", "ref-0", expires=0))
    auth = CloverOAuth("APP", M, store=store)
    spent: list[str] = []
    async with httpx.AsyncClient(transport=refresher(spent), auth=auth) as http:
        await asyncio.gather(*(http.get("https://x/y") for _ in range(10)))
    assert spent == ["ref-0"]
    saved = store.get(M)
    assert saved is not None
    assert saved.access_token.get_secret_value() == "acc-1"


@pytest.mark.anyio
async def test_threaded_lock_cancelled_while_waiting_is_not_leaked() -> None:
    store = InMemoryTokenStore()
    held = store.lock(M)
    assert isinstance(held, type(threading.Lock()))
    held.acquire()
    adapter = ThreadedStore(store)
    entered = False

    async def wait_for_lock() -> None:
        nonlocal entered
        async with adapter.lock(M):
            entered = True

    task = asyncio.create_task(wait_for_lock())
    for _ in range(20):
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    held.release()  # the worker thread now gets it, and must hand it back
    assert await asyncio.to_thread(held.acquire, True, 10)
    held.release()
    assert not entered


# --- real processes sharing one FileTokenStore --------------------------------------------

CHILD = """
import os, sys, time, httpx
from cloverpay.api import CloverOAuth, FileTokenStore
path, base, ready, go = sys.argv[1:5]
auth = CloverOAuth("APP", "MERCHANT00001", store=FileTokenStore(path), base_url=base)
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
with httpx.Client(auth=auth, timeout=30) as client:
    statuses = [client.get(base + "/v3/merchants/MERCHANT00001").status_code for _ in range(3)]
print(*statuses, auth.refresh_count)
"""


class RealClover:
    """A tiny HTTP server on 127.0.0.1 holding Clover's single-use refresh rule."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.access: set[str] = set()
        self.refresh_live: set[str] = set()
        self.reused: list[str] = []
        self.refresh_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(0.2)  # keep the refresh in flight while the others arrive
                with outer.lock:
                    outer.refresh_calls += 1
                    spent = body["refresh_token"]
                    if spent not in outer.refresh_live:
                        outer.reused.append(spent)
                        return self._send(400, {"message": "invalid refresh token"})
                    outer.refresh_live.discard(spent)
                self._send(200, outer.issue(3600).to_storage_dict())

            def do_GET(self) -> None:
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                with outer.lock:
                    ok = bearer in outer.access
                self._send(200 if ok else 401, {"ok": ok})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def issue(self, lifetime: float) -> OAuthToken:
        access, refresh = secrets.token_hex(8), secrets.token_hex(8)
        with self.lock:
            self.access.add(access)
            self.refresh_live.add(refresh)
        return tok(access, refresh, expires=time.time() + lifetime)

    @contextlib.contextmanager
    def running(self) -> Iterator[RealClover]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)


@pytest.mark.slow
def test_processes_sharing_a_file_store_spend_each_refresh_token_once(tmp_path: Path) -> None:
    n = 4
    with RealClover().running() as clover:
        path = tmp_path / "tokens.json"
        FileTokenStore(path).save(M, clover.issue(lifetime=-10))  # already expired
        go = tmp_path / "go"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(path),
                    clover.base,
                    str(tmp_path / f"r{i}"),
                    str(go),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(n)
        ]
        try:
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"r{i}").exists() for i in range(n)):
                assert time.monotonic() < deadline, "children did not start"
                assert all(p.poll() is None for p in procs), procs[0].communicate()
                time.sleep(0.01)
            go.touch()
            outputs = [p.communicate(timeout=60) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    lines = [out.split() for out, _ in outputs]
    assert all(line[:3] == ["200", "200", "200"] for line in lines), outputs
    assert sum(int(line[3]) for line in lines) == 1
    assert clover.refresh_calls == 1
    assert clover.reused == []


@pytest.mark.slow
def test_401_storm_through_a_small_connection_pool_does_not_starve_the_refresh() -> None:
    """Requests waiting for the refresh must not hold pooled connections, or the refresh
    itself could never get one (pool timeout)."""
    n = 6
    with RealClover().running() as clover:
        store = InMemoryTokenStore({M: clover.issue(lifetime=3600)})
        with clover.lock:
            clover.access.clear()  # revoked: every request gets a 401 first
        auth = CloverOAuth("APP", M, store=store, base_url=clover.base)
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        timeout = httpx.Timeout(10.0, pool=2.0)
        barrier = threading.Barrier(n)
        results: dict[int, int] = {}
        with httpx.Client(auth=auth, limits=limits, timeout=timeout) as client:

            def call(i: int) -> None:
                barrier.wait()
                results[i] = client.get(clover.base + "/v3/merchants/" + M).status_code

            # daemon threads and a deadline: a starved pool must fail the test, not hang it
            threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            assert len(results) == n, "requests stuck waiting for a pooled connection"
    assert sorted(results.values()) == [200] * n
    assert clover.refresh_calls == 1
    assert clover.reused == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_async_401_storm_through_a_small_connection_pool() -> None:
    n = 8
    with RealClover().running() as clover:
        store = InMemoryTokenStore({M: clover.issue(lifetime=3600)})
        with clover.lock:
            clover.access.clear()
        auth = CloverOAuth("APP", M, store=store, base_url=clover.base)
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(auth=auth, limits=limits, timeout=10.0) as client:
            url = clover.base + "/v3/merchants/" + M
            responses = await asyncio.wait_for(
                asyncio.gather(*(client.get(url) for _ in range(n))), timeout=30
            )
    assert [r.status_code for r in responses] == [200] * n
    assert clover.refresh_calls == 1
    assert clover.reused == []


def test_file_store_with_the_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.bin"
    FileTokenStore(path, codec=Fernet(Fernet.generate_key())).save(M, tok("a", "r"))
    with pytest.raises(OAuthError, match="cannot decrypt the token file"):
        FileTokenStore(path, codec=Fernet(Fernet.generate_key())).get(M)
    with pytest.raises(OAuthError, match="not valid JSON"):
        FileTokenStore(path).get(M)  # encrypted file read without the codec


class SqliteTokenStore:
    """The TokenStore protocol over a database, as a service would write it (here
    sqlite3; with PostgreSQL the lock is ``SELECT … FOR UPDATE`` on the row or an
    advisory lock). One connection per thread; ``lock`` is a write transaction that
    the CAS ``save`` inside it joins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        with contextlib.closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS oauth_token (merchant_id TEXT PRIMARY KEY, "
                "refresh_token TEXT, data TEXT NOT NULL)"
            )

    def _connect(self) -> Any:
        import sqlite3

        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    @property
    def db(self) -> Any:
        if not hasattr(self.local, "db"):
            self.local.db = self._connect()
        return self.local.db

    def get(self, merchant_id: str) -> OAuthToken | None:
        row = self.db.execute(
            "SELECT data FROM oauth_token WHERE merchant_id = ?", (merchant_id,)
        ).fetchone()
        return None if row is None else OAuthToken.from_storage_dict(json.loads(row[0]))

    def save(self, merchant_id: str, token: OAuthToken, *, replaces: str | None = None) -> bool:
        data = json.dumps(token.to_storage_dict())
        refresh = token.refresh_token.get_secret_value() if token.refresh_token else None
        if replaces is None:
            self.db.execute(
                "INSERT INTO oauth_token VALUES (?, ?, ?) ON CONFLICT(merchant_id) "
                "DO UPDATE SET refresh_token = excluded.refresh_token, data = excluded.data",
                (merchant_id, refresh, data),
            )
            return True
        cursor = self.db.execute(
            "UPDATE oauth_token SET refresh_token = ?, data = ? "
            "WHERE merchant_id = ? AND refresh_token = ?",
            (refresh, data, merchant_id, replaces),
        )
        return bool(cursor.rowcount == 1)

    @contextlib.contextmanager
    def lock(self, merchant_id: str) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


@pytest.mark.slow
def test_a_database_store_serves_the_protocol(tmp_path: Path) -> None:
    """Workers with their own store objects and connections (as separate processes
    would have) share one database: one refresh, the spent token never reused."""
    with RealClover().running() as clover:
        path = tmp_path / "tokens.db"
        seed = SqliteTokenStore(path)
        assert seed.save(M, clover.issue(lifetime=-10))
        assert not seed.save(M, tok("x", "y"), replaces="not-the-current-one")
        workers = 6
        barrier = threading.Barrier(workers)
        results: dict[int, tuple[int, int]] = {}

        def worker(i: int) -> None:
            auth = CloverOAuth("APP", M, store=SqliteTokenStore(path), base_url=clover.base)
            with httpx.Client(auth=auth, timeout=30) as client:
                barrier.wait()
                status = client.get(clover.base + "/v3/merchants/" + M).status_code
            results[i] = (status, auth.refresh_count)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(results) == list(range(workers))
    assert [status for status, _ in results.values()] == [200] * workers
    assert sum(count for _, count in results.values()) == 1
    assert clover.refresh_calls == 1
    assert clover.reused == []
