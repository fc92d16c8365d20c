"""SnapStart's hooks (automations/snapstart.py), run as Lambda runs them: every function the
template gives SnapStart registers its priming;
priming sends nothing, stores nothing and leaves no log line or metric; after it, a function's
first request imports none of the libraries and modules a fresh one would; a restore reseeds
``random``, and the first invocation after it is still the cold start."""
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from automations_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk", "automations")


class _AwsStandIn:
    """An AWS endpoint on loopback that records every request and answers DynamoDB as if it held
    nothing, anything else with an error."""

    def __init__(self) -> None:
        requests = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("content-length") or 0))
                target = self.headers.get("x-amz-target") or ""
                requests.append(target or self.path)
                body = (b'{"Items": [], "Count": 0, "ScannedCount": 0, "Responses": {}}' if target.startswith("DynamoDB_")
                        else b'{"__type":"UnknownOperationException"}')
                self.send_response(200 if target.startswith("DynamoDB_") else 400)
                self.send_header("content-type", "application/x-amz-json-1.0")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def aws_stand_in():
    stand_in = _AwsStandIn()
    yield stand_in
    stand_in.close()


def _environment(aws_url: str) -> dict[str, str]:
    shared, _ = load_template(ROOT / "template.yaml").shared_environment()
    return {**os.environ, **shared, "AWS_ENDPOINT_URL": aws_url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), os.environ.get("PYTHONPATH", "")])}


def _run(code: str, aws_url: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_environment(aws_url),
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _snapstart_functions() -> list[str]:
    """Each function directory the template gives SnapStart (on in prod, off in dev)."""
    template = load_template(ROOT / "template.yaml")
    return sorted({function.code_dir.name for stack in template.stacks() for function in stack.own_functions()
                   if "SnapStart" in stack.resolved(function.logical_id)})


def test_every_function_snapstart_applies_to_primes_itself_sending_nothing_and_saying_nothing(aws_stand_in, tmp_path):
    functions = _snapstart_functions()
    assert len(functions) > 100 and "authorizer" in functions
    assert not {"run_executor", "sweep_worker", "events_ingest"} & set(functions)  # workers: not user-facing
    report = tmp_path / "report.json"
    code = f"""
import importlib.util, json, pathlib, sys
import snapshot_restore_py
handlers = {{}}
for name in {sorted(functions)!r}:
    path = pathlib.Path({str(ROOT / 'functions')!r}) / name / "app.py"
    spec = importlib.util.spec_from_file_location("fn_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handlers[name] = [value for value in vars(module).values() if callable(value)]
primed = [args[0] for hook, args, kwargs in snapshot_restore_py.get_before_snapshot()]
# the handler or the handler it wraps (piggy_runs_create's), whichever module registered it first
hooks = {{name: sum(value == each for value in values for each in primed) for name, values in handlers.items()}}
for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
    hook(*args, **kwargs)
from automations import telemetry
pathlib.Path({str(report)!r}).write_text(json.dumps({{"hooks": hooks, "restorers": len(snapshot_restore_py.get_after_restore()),
                                                       "cold": telemetry._cold}}))
"""
    done = _run(code, aws_stand_in.url)
    found = json.loads(report.read_text())
    assert aws_stand_in.requests == []  # nothing sent: nothing read, nothing stored
    assert done.stdout == ""  # no log line, no metric
    assert [name for name in functions if found["hooks"][name] < 1] == []
    assert found["restorers"] == 1 and found["cold"] is True


def _first_request(function: str, event: dict, aws_url: str, primed: bool) -> dict:
    """In a fresh interpreter: the function imported, primed and restored as Lambda does (or not),
    then one request: its status, the modules it imported, and the requests priming sent."""
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT / 'functions' / function)!r})
import app, snapshot_restore_py
if {primed!r}:
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        hook(*args, **kwargs)
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
before = set(sys.modules)
answer = app.handler(json.loads({json.dumps(event)!r}), None)
print(json.dumps({{"answer": answer, "imported": sorted(set(sys.modules) - before)}}))
"""
    return json.loads(_run(code, aws_url).stdout.strip().splitlines()[-1])


def _api_request(method: str, path: str, path_parameters: dict | None = None) -> dict:
    from automations.snapstart import api_request

    event = api_request(method, path)
    event["requestContext"]["authorizer"]["lambda"]["account_id"] = "acc_0123456789abcdef"
    event["pathParameters"] = path_parameters or {}
    return event


@pytest.mark.parametrize(("function", "event", "status", "left"), [
    ("contacts_get", _api_request("GET", "/v1/contacts/c-1", {"uuid": "c-1"}), 404, ()),
    ("automations_list", _api_request("GET", "/v1/automations"), 200, ()),
    ("authorizer", {"type": "REQUEST", "headers": {"authorization": "Bearer not-a-key"}}, None, ()),
    # One request primes an endpoint of the other surfaces (its route is not known to it): what the
    # route's own parsing and service need may be left, never the libraries.
    ("zendesk_show_ticket", _api_request("GET", "/api/v2/tickets/7.json", {"ticket_id": "7"}), 404, ("automations",)),
])
def test_after_priming_a_first_request_imports_none_of_what_a_fresh_one_does(aws_stand_in, function, event, status,
                                                                            left):
    fresh = _first_request(function, event, aws_stand_in.url, primed=False)
    assert [m for m in fresh["imported"] if m.split(".")[0] in HEAVY]  # what priming is for
    sent_fresh = len(aws_stand_in.requests)
    restored = _first_request(function, event, aws_stand_in.url, primed=True)
    assert len(aws_stand_in.requests) == 2 * sent_fresh  # priming sent nothing; the request the same
    heavy = [m for m in restored["imported"] if m.split(".")[0] in HEAVY and m.split(".")[0] not in left]
    assert heavy == []
    answer = restored["answer"]
    assert answer == fresh["answer"] and (status is None or answer["statusCode"] == status)


def test_a_restore_reseeds_random():
    import random

    from automations import snapstart

    state = random.getstate()
    try:
        snapstart.renew()
        assert random.getstate() != state
    finally:
        random.setstate(state)


def test_a_hook_given_for_every_send_twice_is_called_once_a_send(aws_stand_in):
    """Each priming registers its stop (a native function primes its routes and the catch-all it
    imports): every call of the process would otherwise run it once for each."""
    code = """
import json
from automations.adapters import aws
calls = []
hook = lambda **_: calls.append(1)
aws.before_every_send(hook)
aws.client("dynamodb").list_tables()
aws.before_every_send(hook)
aws.client("dynamodb").list_tables()
aws.client("sqs")
print(json.dumps(len(calls)))
"""
    assert json.loads(_run(code, aws_stand_in.url).stdout.strip().splitlines()[-1]) == 2



def test_priming_leaves_the_traces_cold_start_to_the_first_request():
    """Powertools' Tracer annotates an invocation's trace ColdStart once a process: priming's
    requests (before the snapshot) leave that to the first request after a restore, as they leave
    the log lines' cold_start."""
    from aws_lambda_powertools.tracing import tracer

    from automations import telemetry

    @telemetry.lambda_handler
    def handler(event, context):
        return {}

    cold, traced_cold = telemetry._cold, tracer.is_cold_start
    telemetry._cold = tracer.is_cold_start = True
    try:
        with telemetry.unobserved():
            handler({}, None)
        assert telemetry._cold is True and tracer.is_cold_start is True
    finally:
        telemetry._cold, tracer.is_cold_start = cold, traced_cold


def test_priming_in_lambda_writes_no_line_through_the_root_logger(aws_stand_in, tmp_path):
    """In Lambda (the X-Ray SDK on, the runtime logging what reaches the root logger) priming's
    requests come before any trace: the SDK would log each subsegment it discards. Nothing is
    logged while priming, and what is logged after it is."""
    code = f"""
import logging, os, sys
os.environ["LAMBDA_TASK_ROOT"] = {str(tmp_path)!r}
logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))  # as Lambda's runtime does
sys.path.insert(0, {str(ROOT / 'functions' / 'authorizer')!r})
import app, snapshot_restore_py
for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
    hook(*args, **kwargs)
logging.getLogger("after").warning("primed")
"""
    assert _run(code, aws_stand_in.url).stdout == "primed\n"
