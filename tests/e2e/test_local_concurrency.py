"""The local runtime under concurrent clients, as `make run` serves them: every connection
accepted, every invocation with its own sandbox state, and a stop within 2 s whatever the load."""
from __future__ import annotations

import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.e2e

CLIENTS = 48


def test_concurrent_native_creates_each_answer_201(local_runtime):
    """Each client on a connection of its own, all at once: none is reset, and each create gets
    its own resolver state (a shared one answers some with another request's status)."""
    account = local_runtime.create_account("Crowd Co")
    headers = {"Authorization": f"Bearer {account['api_key']}"}
    start = threading.Barrier(CLIENTS)

    def create(n: int) -> tuple[int, str]:
        start.wait()
        response = requests.post(local_runtime.url("/v1/templates"), headers=headers, timeout=120,
                                 json={"title": f"Crowd {n}", "type": "email", "subject": "Hi", "text": "Hi"})
        return response.status_code, response.json().get("title", response.text)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(create, range(CLIENTS)))
    wrong = [(n, answer) for n, answer in enumerate(answers) if answer != (201, f"Crowd {n}")]
    assert not wrong


def test_sigterm_stops_within_2_seconds_under_load(serve, tmp_path):
    process = serve("--data-dir", str(tmp_path)).ready()  # its last snapshot included
    base_url = process.base_url
    stop = threading.Event()
    answered = []
    try:
        key = requests.post(f"{base_url}/_local/accounts", timeout=30,
                            json={"name": "Load", "email": f"load-{uuid.uuid4().hex[:8]}@example.com"}).json()["api_key"]

        def load(n: int) -> None:
            session = requests.Session()
            while not stop.is_set():
                try:
                    session.post(f"{base_url}/v1/contacts", headers={"Authorization": f"Bearer {key}"},
                                 json={"email": f"{uuid.uuid4().hex}@example.com"}, timeout=30)
                    answered.append(n)
                except requests.RequestException:
                    return

        def sweep() -> None:  # a sweep in progress and queue work too
            try:
                requests.post(f"{base_url}/_local/sweep", json={"timeout_s": 60}, timeout=90)
            except requests.RequestException:
                pass

        for client in [threading.Thread(target=load, args=(n,), daemon=True) for n in range(16)]:
            client.start()
        threading.Thread(target=sweep, daemon=True).start()
        while len(answered) < 50:
            time.sleep(0.05)
        assert process.signal(signal.SIGTERM) < 2.0
        assert process.process.returncode == 0
    finally:
        stop.set()
