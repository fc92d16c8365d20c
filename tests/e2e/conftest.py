"""End-to-end fixtures: one local runtime per test process (per xdist worker), talked to over HTTP."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime

import boto3
import pytest
import requests

from automations import config
from automations.clock import parse_iso
from automations_local.runtime import LocalRuntime

TIMEOUT = 10  # seconds per HTTP call: a hung request fails its test instead of the run
# Calls that drain every queue (an hourly sweep and checks of the directory's accounts included).
DRAINING = ("/_local/scheduler/tick", "/_local/sweep")
DRAINING_TIMEOUT = 120


class LocalStack:
    """The running runtime as a client sees it, with helpers for the local control API."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.http = requests.Session()
        self.base_url = runtime.base_url
        self.dev_email = runtime.dev_email
        self.dev_api_key = runtime.dev_api_key

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        if path.startswith(DRAINING) and "json" not in kwargs and "data" not in kwargs:
            # Hourly work may be due: under load, more than the runtime's default 60 s; the
            # drain still ends well inside the HTTP timeout.
            kwargs["json"] = {"timeout_s": DRAINING_TIMEOUT - 10}
        kwargs.setdefault("timeout", DRAINING_TIMEOUT if path.startswith(DRAINING) else TIMEOUT)
        return self.http.request(method, self.url(path), **kwargs)

    def as_account(self, headers: dict[str, str]) -> AccountClient:
        return AccountClient(self, headers)

    def create_account(self, name: str = "Second Account", email: str | None = None,
                       timezone: str | None = None) -> dict:
        """A fresh account (unique email unless given): account_id, name, email, timezone, api_key."""
        body = {"name": name, "email": email or f"owner-{uuid.uuid4().hex[:10]}@example.com"}
        if timezone is not None:
            body["timezone"] = timezone
        response = self.request("POST", "/_local/accounts", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def directory(self) -> set[str]:
        """The ids in the account directory, read as the hourly coordinator pages through it."""
        from automations.bootstrap import services

        ids, after = [], None
        while True:
            page, after = services().accounts.account_page(100, after)
            ids += page
            if after is None:
                return set(ids)

    def leave_the_directory(self, account_ids: set[str]) -> None:
        """Take accounts out of the directory the hourly coordinator pages through (the sweep's
        and the hourly checks' fan-out); their data stays. The runtime lives for the whole test
        process, so without this every hour a later test crosses would sweep and check every
        account the earlier tests made: the later a test that moves the clock by days ran, the
        longer it took. The condition fails loudly if the directory's layout ever changes."""
        db = boto3.client("dynamodb", endpoint_url=self.runtime.aws_endpoint, region_name=self.runtime.template.region)
        for account_id in account_ids:
            db.update_item(TableName=config.table_name(),
                           Key={"PK": {"S": f"ACCOUNT#{account_id}"}, "SK": {"S": "ACCOUNT"}},
                           UpdateExpression="REMOVE GSI2PK, GSI2SK",
                           ConditionExpression="GSI2PK = :directory AND GSI2SK = :id",
                           ExpressionAttributeValues={":directory": {"S": "ACCOUNTS"}, ":id": {"S": account_id}})


class AccountClient:
    """Requests made as one account: its headers (credentials) on every call."""

    def __init__(self, stack: LocalStack, headers: dict[str, str]) -> None:
        self.stack, self.headers = stack, headers

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.stack.request(method, path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def make(self, path: str, body: dict) -> dict:
        """POST a record that must be created (201); its JSON."""
        response = self.call("POST", path, json=body)
        assert response.status_code == 201, response.text
        return response.json()


class ClockControl:
    """The runtime's movable clock, driven through /_local/clock."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack

    def _answer(self, response: requests.Response) -> datetime:
        assert response.status_code == 200, response.text
        return parse_iso(response.json()["now"])

    def now(self) -> datetime:
        return self._answer(self._stack.request("GET", "/_local/clock"))

    def set(self, when: datetime | str) -> datetime:
        text = when if isinstance(when, str) else when.isoformat()
        return self._answer(self._stack.request("POST", "/_local/clock", json={"set": text}))

    def advance(self, seconds: float) -> datetime:
        return self._answer(self._stack.request("POST", "/_local/clock", json={"advance_seconds": seconds}))


@pytest.fixture(scope="session")
def local_runtime():
    runtime = LocalRuntime(port=0).start()
    try:
        yield LocalStack(runtime)
    finally:
        runtime.stop()


@pytest.fixture(autouse=True)
def _one_test_one_directory(request):
    """Each test's hourly work covers the accounts it made, the development account and those of
    the session's and modules' fixtures (set up before this runs), as on a runtime of its own:
    the accounts that joined the directory while a test ran leave it when the test ends."""
    if "local_runtime" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("local_runtime")
    before = stack.directory()
    yield
    stack.leave_the_directory(stack.directory() - before)


@pytest.fixture
def clock(local_runtime) -> ClockControl:
    """Clock helpers; nothing is reset, so tests set the time they need."""
    return ClockControl(local_runtime)


class ServeProcess:
    """`automations serve` in a process of its own, as `make run` starts it."""

    def __init__(self, *arguments: str, port: int = 0, env: dict[str, str] | None = None) -> None:
        environment = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "TABLE_NAME")}
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from automations_local.cli import main; sys.exit(main())",
             "serve", "--port", str(port), *arguments],
            stdout=subprocess.PIPE, stderr=self._stderr, env={**environment, **(env or {})}, text=True)
        self.base_url = f"http://127.0.0.1:{port}"
        self.aws_endpoint = ""
        self.output: list[str] = []
        self._banner = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if "AWS endpoint: " in line:
                self.aws_endpoint = line.rsplit(" ", 1)[1].strip()
            if "local runtime at " in line:
                self.base_url = line.rsplit(" ", 1)[1].strip()
            if "Press Ctrl-C" in line:
                self._banner.set()
        self._banner.set()

    def ready(self, timeout_s: float = 60) -> ServeProcess:
        """Wait for the start-up banner (printed once the runtime is up)."""
        assert self._banner.wait(timeout_s) and self.process.poll() is None, "".join(self.output)
        return self

    def signal(self, number: int, timeout_s: float = 10) -> float:
        """Send a signal; the seconds the process took to exit (it must exit with 0 or be killed)."""
        started = time.monotonic()
        self.process.send_signal(number)
        self.process.wait(timeout_s)
        return time.monotonic() - started

    def errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._stderr.close()


@pytest.fixture
def serve():
    """Start `automations serve` processes; each is killed at the end of the test."""
    started: list[ServeProcess] = []

    def start(*arguments: str, port: int = 0, env: dict[str, str] | None = None) -> ServeProcess:
        started.append(ServeProcess(*arguments, port=port, env=env))
        return started[-1]

    yield start
    for process in started:
        process.kill()
