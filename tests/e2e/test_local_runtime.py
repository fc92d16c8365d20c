"""The local runtime over HTTP: control API, routing of every declared route, the development
account, and the `automations` command."""
from __future__ import annotations

import base64
import http.client
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config

from automations import bootstrap
from automations.errors import Unauthenticated
from automations_local import cli
from automations_local.api_gateway import MAX_BODY_BYTES

pytestmark = pytest.mark.e2e

GATEWAY_NOT_FOUND = {"message": "Not Found"}


def zendesk_auth(email: str, key: str) -> dict:
    token = base64.b64encode(f"{email}/token:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def close_to(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) < timedelta(seconds=5)  # real time keeps flowing under the offset


# --- control API ---------------------------------------------------------------------------------


def test_health(local_runtime):
    response = local_runtime.request("GET", "/_local/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_clock_get_set_advance(local_runtime, clock):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", local_runtime.request("GET", "/_local/clock").json()["now"])
    start = datetime(2030, 1, 1, 9, 0, tzinfo=timezone.utc)
    assert close_to(clock.set("2030-01-01T11:00:00+02:00"), start)
    assert close_to(clock.now(), start)
    assert close_to(clock.advance(3600), start + timedelta(hours=1))
    assert close_to(clock.set(start), start)


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}", b'{"advance_seconds": 1, "set": "2030-01-01T00:00:00Z"}',
    b'{"advance_seconds": "10"}', b'{"advance_seconds": true}', b'{"advance_seconds": 1e400}',
    b'{"advance_seconds": 1e300}', b'{"set": "2030-01-01T09:00:00"}', b'{"set": 5}', b'{"set": "tomorrow"}',
    b'{"advance_seconds": 1, "extra": 1}',
])
def test_clock_rejects_bad_input(local_runtime, clock, body):
    before = clock.set("2031-06-01T00:00:00Z")
    response = local_runtime.request("POST", "/_local/clock", data=body)
    assert response.status_code == 400 and response.json()["error"]
    assert close_to(clock.now(), before)


@pytest.mark.parametrize("path, body", [("/_local/clock", b'{"advance_seconds": 0}'), ("/_local/sweep", b""),
                                        ("/_local/accounts", b'{"name": "X", "email": "x@example.com"}')])
def test_a_body_sent_as_a_form_is_refused_as_the_native_api_does(local_runtime, path, body):
    """curl -d sends a form's Content-Type: the control API answers it as /v1 does, 415."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    local = local_runtime.request("POST", path, data=body, headers=form)
    native = local_runtime.request("POST", "/v1/webhooks", data=b"{}", headers={
        **form, **zendesk_auth(local_runtime.dev_email, local_runtime.dev_api_key)})
    assert (local.status_code, native.status_code) == (415, 415)
    assert local.json()["error"] == native.json()["error"]["message"] == (
        "The request body must be sent as JSON (Content-Type: application/json), not as application/x-www-form-urlencoded")


def test_the_address_and_the_docs_with_or_without_a_slash(local_runtime):
    home = local_runtime.request("GET", "/", allow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (302, "/_local/console")
    for page in ("/docs", "/docs/", "/docs/zendesk", "/docs/zendesk/", "/docs/piggy/"):
        answer = local_runtime.request("GET", page)
        assert answer.status_code == 200 and "swagger-ui" in answer.text, page
        assert local_runtime.dev_api_key in answer.text  # signed in as the development account


def test_the_clock_returns_to_real_time(local_runtime, clock):
    # The shared runtime's clock is wherever the tests before left it (a year back, say): from there.
    offset = local_runtime.request("GET", "/_local/clock").json()["offset_seconds"]
    moved = local_runtime.request("POST", "/_local/clock", json={"advance_seconds": 7200}).json()["offset_seconds"]
    assert moved - offset >= 7200
    back = local_runtime.request("POST", "/_local/clock", json={"real_time": True})
    assert back.status_code == 200 and back.json()["offset_seconds"] == 0
    assert close_to(clock.now(), datetime.now(timezone.utc))
    refused = local_runtime.request("POST", "/_local/clock", json={"real_time": False})
    assert refused.status_code == 400 and "real_time must be true" in refused.json()["error"]


def test_create_account(local_runtime):
    created = local_runtime.create_account("Tenant B", email="Tenant-B@Example.com", timezone="Europe/Amsterdam")
    assert created["account_id"] and created["api_key"]
    assert (created["name"], created["email"], created["timezone"]) == ("Tenant B", "tenant-b@example.com",
                                                                         "Europe/Amsterdam")
    response = local_runtime.request("GET", "/api/v2/automations.json",
                                     headers=zendesk_auth(created["email"], created["api_key"]))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body, status", [
    (b"nope", 400), (b'{"email": "x@example.com"}', 400), (b'{"name": 1, "email": "x@example.com"}', 400),
    (b'{"name": "X", "email": "x@example.com", "timezone": 1}', 400),
    (b'{"name": "X", "email": "not-an-email"}', 422), (b'{"name": "X", "email": "x@example.com", "timezone": "Mars/Base"}', 422),
])
def test_create_account_rejects_bad_input(local_runtime, body, status):
    response = local_runtime.request("POST", "/_local/accounts", data=body)
    assert response.status_code == status and response.json()["error"]


@pytest.mark.parametrize("method, path", [("GET", "/_local/nothing"), ("DELETE", "/_local/health"),
                                          ("GET", "/_local/accounts")])
def test_unknown_control_endpoint(local_runtime, method, path):
    response = local_runtime.request(method, path)
    assert (response.status_code, response.json()) == (404, {"error": "not found"})


# --- routing -------------------------------------------------------------------------------------


def test_unknown_route_is_the_gateway_404(local_runtime):
    response = local_runtime.request("GET", "/nowhere")  # under no surface's prefix (those have catch-alls)
    assert (response.status_code, response.json()) == (404, GATEWAY_NOT_FOUND)
    assert response.headers["apigw-requestid"]


def test_every_declared_route_is_served(local_runtime):
    auth = zendesk_auth(local_runtime.dev_email, local_runtime.dev_api_key)
    for route in local_runtime.runtime.template.routes:
        path = re.sub(r"\{[^}]+\}", "1", re.sub(r"\{[^}]+\+\}", "a/b", route.path))
        method = "GET" if route.method == "ANY" else route.method
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        response = local_runtime.request(method, path, headers=auth, data=body)
        routed = not (response.status_code == 404 and response.json() == GATEWAY_NOT_FOUND)
        assert routed, f"{route.key} is not served"


def test_dev_account_key_authenticates(local_runtime):
    ok = local_runtime.request("GET", "/api/v2/automations.json",
                               headers=zendesk_auth(local_runtime.dev_email, local_runtime.dev_api_key))
    assert ok.status_code == 200, ok.text
    assert local_runtime.request("GET", "/api/v2/automations.json").status_code == 401


def test_body_over_10_mb_is_refused_unread(local_runtime):
    connection = http.client.HTTPConnection(local_runtime.runtime.host, local_runtime.runtime.port, timeout=10)
    try:
        connection.putrequest("POST", "/api/v2/automations.json")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.endheaders()  # the body is never sent: the gateway answers on the header alone
        response = connection.getresponse()
        assert (response.status, response.read()) == (413, b'{"message": "Request Entity Too Large"}')
    finally:
        connection.close()


def test_chunked_body_is_read(local_runtime, clock):
    chunks = iter([b'{"set": ', b'"2032-02-02T00:00:00Z"}'])
    response = local_runtime.request("POST", "/_local/clock", data=chunks)  # a generator goes chunked
    assert response.status_code == 200 and response.json()["now"].startswith("2032-02-02T00:00")


def test_aws_calls_are_atomic_under_concurrency(local_runtime):
    """moto's backends are not thread-safe (a transaction deep-copies tables that concurrent calls
    change); the runtime serializes AWS calls, so none fails (retries are off to see it)."""
    def client():
        return boto3.session.Session().client("dynamodb", endpoint_url=local_runtime.runtime.aws_endpoint,
                                              config=Config(retries={"max_attempts": 1}))

    table = f"scratch-{uuid.uuid4().hex[:8]}"
    setup = client()
    setup.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    for batch in range(40):  # a big table widens the window of the deep copy
        setup.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"PK": {"S": f"seed-{batch}-{i}"}}}} for i in range(25)]})

    def work(worker: int) -> None:
        db = client()
        for round_ in range(10):
            if worker % 2:
                db.transact_write_items(TransactItems=[
                    {"Put": {"TableName": table, "Item": {"PK": {"S": f"tx-{worker}-{round_}-{i}"}}}} for i in range(5)])
            else:
                db.put_item(TableName=table, Item={"PK": {"S": f"put-{worker}-{round_}"}})

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(work, range(8)))  # re-raises the first failed call
    finally:
        setup.delete_table(TableName=table)


# --- the command ---------------------------------------------------------------------------------


def test_cli_accounts_and_keys(local_runtime, capsys):
    # The runtime put AWS_ENDPOINT_URL and TABLE_NAME in this process's environment.
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    assert cli.main(["accounts", "create", "Cli Co", "--email", email, "--timezone", "Asia/Tokyo"]) == 0
    out = capsys.readouterr().out
    account_id = re.search(r"Account: (\S+)", out).group(1)
    first_key = re.search(r"API key: (\S+)", out).group(1)
    assert "will not be shown again" in out

    assert cli.main(["keys", "create", account_id]) == 0
    out = capsys.readouterr().out
    key_id, second_key = re.search(r"Key id:\s+(\S+)", out).group(1), re.search(r"API key: (\S+)", out).group(1)
    for key in (first_key, second_key):
        assert local_runtime.request("GET", "/api/v2/automations.json", headers=zendesk_auth(email, key)).ok

    assert cli.main(["keys", "revoke", key_id]) == 0
    assert f"Revoked {key_id}" in capsys.readouterr().out
    assert cli.main(["accounts", "set-timezone", account_id, "Europe/Paris"]) == 0
    assert "Europe/Paris" in capsys.readouterr().out
    moved = bootstrap.services().accounts.get_account(account_id)
    assert (moved.timezone, moved.previous_timezone) == ("Europe/Paris", "Asia/Tokyo")  # the hourly check follows it
    # The authorizer may trust a verified key for AUTH_CACHE_SECONDS: ask the store, not the API.
    with pytest.raises(Unauthenticated):
        bootstrap.services().accounts.authenticate(second_key)


@pytest.mark.parametrize("argv", [
    ["keys", "revoke", "key_missing"], ["keys", "create", "acc_missing"],
    ["accounts", "create", "X", "--email", "not-an-email"], ["accounts", "set-timezone", "acc_missing", "UTC"],
    ["accounts", "set-timezone", "acc_missing", "Mars/Olympus"],
])
def test_cli_errors_are_one_line(local_runtime, capsys, argv):
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("automations: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


SERVE = "import sys; from automations_local.cli import main; sys.exit(main())"
# serve whose stop never ends, and gives up on it after a second
SERVE_STUCK_STOPPING = ("import sys, threading; from automations_local import cli, runtime;"
                        "cli.STOP_LIMIT_S = 1.0; runtime.LocalRuntime.stop = lambda *_, **__: threading.Event().wait();"
                        "sys.exit(cli.main())")


def serve_until_ctrl_c(tmp_path, program: str) -> tuple[int, str, str]:
    """Start `automations serve` as from a shell, wait for its banner, press Ctrl-C: its exit
    code, output and error output."""
    # As from a shell: none of what this test process's own runtime put in its environment.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(AUTOMATIONS_DEV_EMAIL="cli-dev@example.com", AUTOMATIONS_DEV_API_KEY="k" * 40)
    with open(tmp_path / "stderr.log", "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-X", "faulthandler", "-c", program,
                                    "serve", "--port", "0", "--ephemeral"],
                                   stdout=subprocess.PIPE, stderr=stderr, env=env, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    output = ""
    try:
        deadline = time.monotonic() + 30
        while "Press Ctrl-C" not in output:
            output += lines.get(timeout=max(0.1, deadline - time.monotonic()))
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack to stderr
            process.wait(timeout=10)
            pytest.fail(f"serve did not stop after SIGINT:\n{(tmp_path / 'stderr.log').read_text()}")
    finally:
        process.kill()
        process.wait()
    reader.join(timeout=5)
    while not lines.empty():
        output += lines.get()
    return code, output, (tmp_path / "stderr.log").read_text()


def test_serve_prints_dev_credentials_and_stops_on_ctrl_c(tmp_path):
    code, output, errors = serve_until_ctrl_c(tmp_path, SERVE)
    assert "http://127.0.0.1:" in output
    assert "cli-dev@example.com" in output and "k" * 40 in output
    assert code == 0 and "Stopped." in output, errors


def test_a_stop_that_hangs_still_ends_serve_and_shows_where_it_was(tmp_path):
    code, output, errors = serve_until_ctrl_c(tmp_path, SERVE_STUCK_STOPPING)
    assert code == 1 and "Stopped." not in output
    assert "Stopping took over 1 s; where each thread was:" in errors
    assert "Current thread" in errors and "in wait" in errors, errors  # the main thread, in the stuck stop
