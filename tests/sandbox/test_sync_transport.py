"""The in-process sync transport under several clients and threads."""

from __future__ import annotations

import threading

import httpx

from cloverpay.sandbox import IN_PROCESS_BASE_URL, Sandbox


def test_closing_one_client_never_strands_another_threads_request() -> None:
    sandbox = Sandbox(seed=5)
    transport = sandbox.sync_transport()
    auth = {"Authorization": f"Bearer {sandbox.credentials.access_token}"}
    slow = httpx.Client(transport=transport, base_url=IN_PROCESS_BASE_URL, timeout=None)
    other = httpx.Client(transport=transport, base_url=IN_PROCESS_BASE_URL)
    slow.post(
        "/_sandbox/faults",
        json={"method": "GET", "path": "/pakms/apikey", "kind": "delay", "delay_s": 0.5},
    )
    answers: list[int] = []
    worker = threading.Thread(
        target=lambda: answers.append(slow.get("/pakms/apikey", headers=auth).status_code)
    )
    worker.start()
    while sandbox.state.faults.list():  # consumed rules are removed: then it is in flight
        threading.Event().wait(0.01)
    other.close()  # closes the shared transport while the slow request is in flight
    worker.join(10)
    assert not worker.is_alive(), "the in-flight request was stranded by close()"
    assert answers == [200]
    # a request after close() still works (a fresh loop is started)
    assert slow.get("/pakms/apikey", headers=auth).status_code == 200
    slow.close()
