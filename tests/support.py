"""Helpers shared by unit and handler tests: AWS through moto's mock_aws with the resources
read from template.yaml (one definition of the table), and API Gateway events from events/."""
from __future__ import annotations

import base64
import copy
import functools
import importlib.util
import json
import os
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "AutomationsTest",
}


_MOTO_LOCK = threading.RLock()


def share_botocore_data() -> None:
    """One botocore data loader for every session of the test process. The product builds each
    client from a session of its own (as a cold Lambda does once), and every new session parses
    the endpoints and service models again: in a test process that makes clients for every test
    (each mock_aws, each local runtime's reset) that parsing was most of a test's set-up. The
    loader's answers are read-only models, the same whichever session asks."""
    import botocore.loaders
    import botocore.session

    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def _serialise_moto() -> None:
    """moto's backends are not thread-safe; AWS calls are atomic. Concurrency tests must race
    our code, not corrupt the emulator, so moto handles one request at a time (as the local
    runtime does for its server)."""
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber.process_request, "serialised", False):
        return
    original = BotocoreStubber.process_request

    def process_request(self, request):
        with _MOTO_LOCK:
            return original(self, request)

    process_request.serialised = True
    BotocoreStubber.process_request = process_request


@contextmanager
def mocked_aws(template=None):
    """mock_aws with every resource of template.yaml (or of ``template``: the same loaded with
    other parameters) created and the core wired to it; template.yaml's from a copy kept by the
    process's first (tests/unit/test_mocked_aws.py holds the copy to a world made anew)."""
    from moto import mock_aws

    _serialise_moto()

    from automations import bootstrap
    from automations.surfaces import authorizer
    from automations_local.delays import follow_the_clock
    from automations_local.resources import create_resources

    follow_the_clock()  # SQS delays on the tests' clock, as in the local runtime
    template = template or _template()
    environment, _ = template.shared_environment()  # as the local runtime gives its functions
    saved = {k: os.environ.get(k) for k in [*_FAKE_AWS, *environment, "AWS_ENDPOINT_URL"]}
    os.environ.update(_FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(environment)
    try:
        with mock_aws():
            bootstrap.reset()
            authorizer.forget_cached()
            if _restored(template):
                _learn_every_migration_finished()  # the kept table's: as run() would have learned
            else:
                create_resources(template)
                if template.tables:  # a new table: every migration finishes at once, as at a deploy (an adopted one, the test makes)
                    bootstrap.services().migrations.run()
                _keep(template)
            yield template
    finally:
        bootstrap.reset()
        authorizer.forget_cached()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# What create_resources and the migrations make for template.yaml, kept once per process: each
# test after the first starts from a copy of it (a set-up of about 35 ms of CPU, not 150).
_MADE_BY_CREATE_RESOURCES = ("dynamodb", "sqs", "scheduler", "events")
_kept: dict[str, dict[tuple[str, str], Any]] = {}  # service -> (account, region) -> moto backend


def _keep(template) -> None:
    from moto.backends import get_backend

    if template is _template() and not _kept:
        _kept.update({service: {(account, region): _copied(backend) for account, regions in get_backend(service).items()
                                for region, backend in regions.items()}
                      for service in _MADE_BY_CREATE_RESOURCES})


def _restored(template) -> bool:
    """Whether the kept resources were put back (as moto's backends, each a fresh copy)."""
    from moto.backends import get_backend

    if template is not _template() or not _kept:
        return False
    for service, backends in _kept.items():
        for (account, region), backend in backends.items():
            get_backend(service)[account][region] = _copied(backend)
    return True


def _learn_every_migration_finished() -> None:
    from automations import config
    from automations.adapters import migration_state
    from automations.adapters.aws import client
    from automations.adapters.dynamo_migrations import migrations

    for migration in migrations(client("dynamodb"), config.table_name()):
        migration_state.learned_finished(config.table_name(), migration.name)


def _copied(backend: Any) -> Any:
    """A deep copy of a moto backend. A queue's lock (a Condition) cannot be copied: each copied
    queue gets a new one."""
    from threading import Condition

    queues = getattr(backend, "queues", {})
    made = copy.deepcopy(backend, {id(queue._messages_lock): None for queue in queues.values()})
    for queue in getattr(made, "queues", {}).values():
        queue._messages_lock = Condition()
    return made


@functools.cache
def _template():
    from automations_local.template import load_template

    return load_template(ROOT / "template.yaml")


def repo_template():
    """template.yaml, loaded once per process."""
    return _template()


def function_id(function_dir: str, route_key: str | None = None) -> str:
    """The template logical id of the function whose code is functions/<dir>; where several
    functions share that code, the one the route (``"PUT /path"``) belongs to."""
    ids = [f.logical_id for f in _template().functions.values() if f.code_dir.name == function_dir]
    if len(ids) > 1:
        ids = [r.function_id for r in _template().routes if r.key == route_key and r.function_id in ids]
    (logical_id,) = ids
    return logical_id


def load_module(function_dir: str):
    """Import functions/<dir>/app.py the way Lambda does: a module of its own."""
    path = FUNCTIONS / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function_dir}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(function_dir: str):
    """Import functions/<dir>/app.py (its own module), return ``handler``: the AWS calls it makes
    are that function's, for the IAM coverage check."""
    from automations_local import iam_coverage

    module = load_module(function_dir)

    @functools.wraps(module.handler)
    def handler(event, context):
        with iam_coverage.running(function_id(function_dir, event.get("routeKey"))):
            return module.handler(event, context)

    return handler


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def basic_auth(email: str, key: str, *, token_style: bool = True) -> str:
    user = f"{email}/token" if token_style else email
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


def http_event(method: str, path: str, *, route: str | None = None, path_params: dict | None = None,
               query: dict | None = None, body: Any = None, authorization: str | None = None,
               raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event (before the authorizer has run), modelled on events/."""
    event = copy.deepcopy(sample_event("zendesk_list_automations"))
    event["routeKey"] = f"{method} {route or path}"
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event["pathParameters"] = path_params
    event["body"] = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    event["headers"].pop("authorization", None)
    if authorization:
        event["headers"]["authorization"] = authorization
    event["requestContext"].pop("authorizer", None)
    return event


def authorized(event: dict[str, Any]) -> dict[str, Any]:
    """Run the real authorizer on ``event`` and attach its context as API Gateway does."""
    from automations.surfaces.authorizer import authorize
    from automations_local import iam_coverage

    with iam_coverage.running(function_id("authorizer")):
        verdict = authorize(event)
    assert verdict["isAuthorized"] is True
    event = copy.deepcopy(event)
    event["requestContext"]["authorizer"] = {"lambda": verdict["context"]}
    return event


def invoke(function_dir: str, event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """Authorize then invoke a handler; returns (status, headers, parsed JSON body or None)."""
    response = load_handler(function_dir)(authorized(event), None)
    body = response.get("body") or ""
    return response["statusCode"], response.get("headers", {}), json.loads(body) if body else None


def ticket_store():
    """The table's tickets as the service stores them, for what a test checks below the API."""
    from automations import config
    from automations.adapters.aws import client
    from automations.adapters.dynamo_tickets import DynamoTicketStore

    return DynamoTicketStore(client("dynamodb"), config.table_name())


def start_sweep(bootstrap) -> tuple[str, list]:
    """A sweep started and fanned out over every account at once: (its id, its tasks)."""
    from automations.domain.sweep import SWEEP

    coordinator = bootstrap.services().sweep_coordinator
    step = coordinator.start(SWEEP, invocation=f"test-{uuid.uuid4()}")
    return step.sweep_id, coordinator.fan_out(step, has_time=lambda: True).done



def error_answer(code: str, **extra) -> dict:
    """AWS's parsed answer refusing a call with ``code``."""
    return {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": 400}, **extra}


class Refusal:
    """The next ``times`` calls of ``operation`` on ``client`` whose serialized request meets
    ``when``, answered with ``answer`` (error_answer(...), a parsed 200, or a function of the
    serialized request returning one) before they reach the
    service, as when botocore's own retries are spent (it short-circuits the call, retries
    included): how tests inject a throttle into the product's real clients. ``refused`` counts."""

    def __init__(self, client, operation: str, answer: dict, *, times: int = 1, when=lambda request: True) -> None:
        self._client, self._answer, self._left, self._when = client, answer, times, when
        self._event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        self.refused = 0

    def __enter__(self) -> "Refusal":
        self._client.meta.events.register(self._event, self._refuse)
        return self

    def __exit__(self, *exc) -> None:
        self._client.meta.events.unregister(self._event, self._refuse)

    def _refuse(self, params, **_):
        from botocore.awsrequest import AWSResponse

        if not self._left or not self._when(params):
            return None
        self._left -= 1
        self.refused += 1
        answer = self._answer(params) if callable(self._answer) else self._answer
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        return AWSResponse("https://refused.invalid", status, {}, None), answer


@contextmanager
def frozen_clock(start: datetime):
    """The one clock, frozen at ``start`` (move it with set/advance), restored afterwards."""
    from automations import clock

    previous = clock.get_clock()
    moving = clock.MovableClock(start, frozen=True)
    clock.set_clock(moving)
    try:
        yield moving
    finally:
        clock.set_clock(previous)


def unmigrated(*names: str) -> None:
    """The migrations ``names`` as if never run (a table with data of before their key changes):
    their state gone, and every process's stores reading the old keys again."""
    import boto3

    from automations import config
    from automations.adapters import migration_state

    for name in names:
        boto3.client("dynamodb").delete_item(TableName=config.table_name(), Key=migration_state.state_key(name))
    migration_state.forget()


def create_indexed_table(client, name: str) -> None:
    """A table keyed PK/SK with one index ByG keyed G/GS (strings), for tests of moto's DynamoDB."""
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G", "GS")],
        GlobalSecondaryIndexes=[{"IndexName": "ByG", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"},
                                               {"AttributeName": "GS", "KeyType": "RANGE"}]}])
