"""The local runtime under concurrent clients, as `make run` serves them: every connection
accepted, every invocation with its own sandbox state, and a stop within 2 s whatever the load."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
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
        response = requests.post(local_runtime.url("/v1/contacts"), headers=headers, timeout=60,
                                 json={"email": f"crowd-{n}@example.com", "first_name": f"N{n}"})
        return response.status_code, response.json().get("email")

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(create, range(CLIENTS)))
    assert answers == [(201, f"crowd-{n}@example.com") for n in range(CLIENTS)]


def _serve(*arguments: str) -> tuple[subprocess.Popen, str]:
    """`automations serve` in a process of its own; it and its base URL once it is ready."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "TABLE_NAME")}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from automations_local.cli import main; sys.exit(main())",
         "serve", "--port", "0", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if "local runtime at " in line:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, line.rsplit(" ", 1)[1].strip()
        assert time.monotonic() < deadline, "serve did not start"
    raise AssertionError(f"serve exited with {process.wait()}")


def test_sigterm_stops_within_2_seconds_under_load():
    process, base_url = _serve()
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
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        process.kill()
        process.wait()
