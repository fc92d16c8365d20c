"""Cold starts counted to the first answer (`automations bench --only imports`).

Each function of the built artifact (`make build`: .aws-sam/build) is started in a fresh
interpreter as Lambda starts it (no site-packages; its directory, the core layer, then the
runtime's own boto3) and invoked once with a realistic event: an API request as API Gateway
hands it over after the authorizer, an SQS batch or a schedule's input as the local runtime's
drivers make them. Its AWS calls go to a local endpoint (the local runtime's moto server) that
holds what the request needs. The time runs from the first line of the function's code (the
import of its module) to the handler's answer. The baseline is a minimal handler that imports
boto3 and answers one GetItem, started and invoked the same way, alternating with each function
so that the machine's load touches both sides of each ratio alike.

Lambda's environment is reproduced where it changes the work done: LAMBDA_TASK_ROOT and
_X_AMZN_TRACE_ID (the X-Ray SDK takes its Lambda path), and the runtime's packages are only
boto3 and its dependencies, as in /var/runtime (the X-Ray SDK patches what it finds installed)."""
from __future__ import annotations

import base64
import dataclasses
import importlib.util
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
# What the Lambda Python runtime carries besides the standard library (/var/runtime).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six", "snapshot_restore_py")
EACH_HANDLER_TARGET, MEDIAN_TARGET = 1.5, 1.3

# Runs in the fresh interpreter: the event is read first, then the clock starts.
_CHILD = r"""
import json, sys, time
sys.path[:0] = {paths!r}
with open({event!r}) as source:
    event = json.load(source)

class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = {memory!r}
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "2026/01/01/[$LATEST]0"

    def get_remaining_time_in_millis(self):
        return 30000

wall, cpu = time.perf_counter(), time.process_time()
import {module}
if {restored!r}:  # SnapStart: the init and its priming before the snapshot, the clock from the restore
    import snapshot_restore_py
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        hook(*args, **kwargs)
    wall, cpu = time.perf_counter(), time.process_time()
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
answer = {module}.{handler}(event, Context())
wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
status = answer.get("statusCode") if isinstance(answer, dict) else None
print(json.dumps({{"wall_ms": wall, "cpu_ms": cpu, "status": status}}))
"""

# The baseline: import boto3, answer one GetItem (the caller's account item) as JSON.
_BASELINE = '''import json
import os

import boto3

db = boto3.client("dynamodb")


def handler(event, context):
    account_id = event["requestContext"]["authorizer"]["lambda"]["account_id"]
    item = db.get_item(TableName=os.environ["TABLE_NAME"],
                       Key={"PK": {"S": f"ACCOUNT#{account_id}"}, "SK": {"S": "ACCOUNT"}}).get("Item")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(item)}
'''


@dataclass
class Artifact:
    """Where each function's built code is, and the core layer's python/ directory."""

    functions: dict[str, Path]  # function directory name -> its built directory
    layer: Path
    note: str  # how the layer was obtained


def built_artifact(scratch: Path, template) -> Artifact:
    """The `make build` output. Its layer holds arm64 wheels (Lambda's architecture): on another
    machine the layer is built again for this one by the same Makefile, bytecode included."""
    if not (BUILD / "template.yaml").is_file():
        raise SystemExit("no built artifact: run `make build` first (python3.13 from pyenv on PATH)")
    functions = built_functions(template, BUILD)
    layer = BUILD / "CoreLayer" / "python"
    machine = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine()]
    if any(layer.glob(f"pydantic_core/*{machine}*.so")):
        return Artifact(functions, layer, f"layer: {layer.relative_to(ROOT)}")
    from automations_local.bench import build_layer_for_host

    return Artifact(functions, build_layer_for_host(scratch / "layer"),
                    f"layer: built for {machine} by layers/core/Makefile ({layer.relative_to(ROOT)} holds arm64 wheels)")


def built_functions(template, build: Path) -> dict[str, Path]:
    """Each function directory's name -> its directory in the `sam build` output ``build``, which
    puts a nested stack's functions under the nested stack's logical id."""
    functions = {}
    for stack, directory in _stacks_in(template, build):
        for function in template.functions.values():
            if template.stack_of(function.logical_id) is stack:
                functions.setdefault(function.code_dir.name, directory / function.logical_id)
    return functions


def _stacks_in(stack, directory: Path) -> Iterator[tuple[Any, Path]]:
    yield stack, directory
    for logical_id, child in stack.children.items():
        yield from _stacks_in(child, directory / logical_id)


def runtime_packages(scratch: Path) -> Path:
    """A directory standing in for /var/runtime: boto3 and its dependencies from this interpreter."""
    target = scratch / "runtime"
    target.mkdir()
    for name in RUNTIME_PACKAGES:
        origin = Path(importlib.util.find_spec(name).origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


# --- the requests -----------------------------------------------------------------------------


class Requests:
    """Builds each function's event against the local runtime's state, as the dev account: the
    records a request names are made first (fresh ones for each request, so that a delete or a
    create never meets a record an earlier repeat used), through the same API."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.auth = "Basic " + base64.b64encode(f"{runtime.dev_email}/token:{runtime.dev_api_key}".encode()).decode()
        self._made = itertools.count(1)

    # -- calls through the gateway -------------------------------------------------------------

    def _request(self, method: str, target: str, body: Any = None, content_type: str = "application/json"):
        """``body``: JSON for a dict or list, sent as it is if bytes."""
        from automations_local.api_gateway import HttpRequest

        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [("authorization", self.auth), ("content-type", content_type), ("host", "bench.local")]
        return HttpRequest(method, target, headers, data)

    def call(self, method: str, target: str, body: Any = None) -> Any:
        """A request really served (setting up what the measured one needs); its JSON answer."""
        response = self.runtime.gateway.handle(self._request(method, target, body))
        assert 200 <= response.status < 300, f"{method} {target}: {response.status} {response.body[:500]!r}"
        return json.loads(response.body) if response.body else None

    def http_event(self, function: str, method: str, target: str, body: Any = None,
                   content_type: str = "application/json") -> dict:
        """The event the gateway would hand ``function`` for this request (its authorizer run)."""
        with self._capturing(function) as captured:
            self.runtime.gateway.handle(self._request(method, target, body, content_type))
        assert captured, f"{method} {target} did not reach {function}"
        return captured[0]

    @contextmanager
    def _capturing(self, function: str) -> Iterator[list[dict]]:
        """Events meant for ``function`` are kept instead of invoked (every other one runs)."""
        from automations_local import api_gateway, lambdas, queues, scheduler

        captured: list[dict] = []
        ids = {f.logical_id for f in self.runtime.template.functions.values() if f.code_dir.name == function}
        real_invoke, real_async = lambdas.invoke, lambdas.invoke_async

        def invoke(target, event, **kwargs):
            if target.logical_id in ids:
                captured.append(event)
                return {"statusCode": 200, "body": ""} if "requestContext" in event else None
            return real_invoke(target, event, **kwargs)

        def invoke_async(target, event, **kwargs):
            if target.logical_id in ids:
                captured.append(event)
                return None, None
            return real_async(target, event, **kwargs)

        patched = [(api_gateway, "invoke", invoke), (lambdas, "invoke", invoke), (queues, "invoke", invoke),
                   (scheduler, "invoke", invoke), (scheduler, "invoke_async", invoke_async),
                   (lambdas, "invoke_async", invoke_async)]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
        for module, name, value in patched:
            setattr(module, name, value)
        try:
            yield captured
        finally:
            for module, name, value in saved:
                setattr(module, name, value)

    def driven_event(self, function: str, cause: Callable[[], object]) -> dict:
        """The first event the local drivers hand ``function`` after ``cause()``: the queues
        drained, then the scheduler ticked an hour on (the hourly schedules) and drained again."""
        with self._capturing(function) as captured:
            cause()
            self.runtime.queues.drain(120)
            if not captured:
                self.runtime.clock.advance(3600)
                self.runtime.scheduler.tick()
                self.runtime.queues.drain(120)
        assert captured, f"nothing reached {function}"
        return captured[0]

    # -- records -------------------------------------------------------------------------------

    def _unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self._made)}-{uuid.uuid4().hex[:6]}"

    def _hours(self) -> str:
        """A threshold no other rule has, the account's defaults included (an active rule with the
        same conditions and actions is refused; the default close rule's is 96 hours, which this
        reached at the 72nd record made, so a whole run stopped there)."""
        return str(1000 + next(self._made))

    def contact(self) -> dict:
        return self.call("POST", "/v1/contacts", {"email": f"{self._unique('ada')}@example.com", "first_name": "Ada"})

    def contact_list(self) -> dict:
        return self.call("POST", "/v1/contact-lists", {"name": self._unique("Customers")})

    def community(self) -> dict:
        return self.call("POST", "/v1/communities", {"name": self._unique("Makers"), "suite_type": "community"})

    def custom_field(self) -> dict:
        return self.call("POST", "/v1/custom-fields", {"name": self._unique("Status"), "scope": "contact",
                                                         "type": "dropdown", "options": ["Lead", "Customer"]})

    def template(self) -> dict:
        return self.call("POST", "/v1/templates", {"title": self._unique("Welcome"), "type": "email",
                                                     "subject": "Welcome, {{ contact.first_name }}",
                                                     "text": "Hello {{ contact.first_name }}!"})

    def user(self) -> dict:
        return self.call("POST", "/v1/users", {"name": "Alex Agent", "email": f"{self._unique('alex')}@example.com",
                                                 "role": "agent"})

    def group(self) -> dict:
        return self.call("POST", "/v1/groups", {"name": self._unique("Tier 2")})

    def brand(self) -> dict:
        return self.call("GET", "/api/v2/brands.json")["brands"][0]

    def webhook(self) -> dict:
        return self.call("POST", "/v1/webhooks", {"name": "Hook", "url": "https://example.com/hook"})

    def native_automation(self) -> dict:
        return self.call("POST", "/v1/automations", self.native_automation_body())

    def native_automation_body(self) -> dict:
        return {"title": self._unique("Close solved tickets"), "trigger": "sweep",
                "conditions": {"all": [{"field": "status", "operator": "is", "value": "solved"},
                                       {"field": "SOLVED", "operator": "greater_than", "value": self._hours()}], "any": []},
                "actions": [{"field": "status", "value": "closed"}]}

    def zendesk_automation(self) -> dict:
        return self.call("POST", "/api/v2/automations.json", {"automation": self.zendesk_automation_body()})["automation"]

    def zendesk_automation_body(self) -> dict:
        return {"title": self._unique("Escalate open tickets"),
                "conditions": {"all": [{"field": "status", "operator": "is", "value": "open"},
                                       {"field": "OPEN", "operator": "greater_than", "value": self._hours()}], "any": []},
                "actions": [{"field": "priority", "value": "high"}]}

    def ticket(self) -> dict:
        return self.call("POST", "/api/v2/tickets.json", self.ticket_body())["ticket"]

    @staticmethod
    def ticket_body() -> dict:
        return {"ticket": {"subject": "My printer is on fire!", "description": "The smoke is very colorful.",
                           "priority": "urgent", "requester": {"name": "Jane Customer", "email": "jane@customer.test"}}}

    def deleted_ticket(self) -> dict:
        ticket = self.ticket()
        self.call("DELETE", f"/api/v2/tickets/{ticket['id']}.json")
        return ticket

    def job(self) -> dict:
        tickets = [self.ticket()["id"] for _ in range(2)]
        return self.call("PUT", f"/api/v2/tickets/update_many.json?ids={','.join(map(str, tickets))}",
                         {"ticket": {"status": "pending"}})["job_status"]

    def contact_automation(self, *, delay_days: int = 0) -> tuple[dict, dict]:
        """A VipeCloud contact rule (its list, its email template): a join makes a run."""
        members, template = self.contact_list(), self.template()
        automation = self.call("POST", "/automations", {
            "contact_list_id": members["id"], "template_type": "email", "template_id": template["id"],
            "trigger_type": "contact", "delay_days": delay_days, "delay_hours": 0, "delay_min": 0})
        return automation, members

    def run(self) -> dict:
        """A run scheduled a day ahead (a join, its ingestion drained)."""
        automation, members = self.contact_automation(delay_days=1)
        contact = self.contact()
        self.call("POST", f"/v1/contact-lists/{members['id']}/members", {"contact_uuids": [contact["uuid"]]})
        self.runtime.queues.drain(120)
        [run] = self.call("GET", f"/v1/runs?contact_uuid={contact['uuid']}")["runs"]
        return run

    def vipecloud_automation(self) -> dict:
        return self.contact_automation()[0]

    def piggy_automation(self) -> dict:
        """An automation Piggy lists and runs (an event rule over contacts)."""
        return self.call("POST", "/v1/automations", {
            "title": self._unique("Voucher"), "trigger": "event", "trigger_config": {"event": "contact_updated"},
            "conditions": {"all": [], "any": []},
            "actions": [{"kind": "send_email", "template_id": self.template()["id"]}]})

    # -- each function's event -------------------------------------------------------------------

    # Requests on one record made first (its fields fill the target), or on none.
    _ON_ONE = {
        "runs_list": ("GET", "run", "/v1/runs"), "runs_get": ("GET", "run", "/v1/runs/{id}"),
        "runs_cancel": ("POST", "run", "/v1/runs/{id}/cancel"),
        "native_unknown_endpoint": ("GET", None, "/v1/nothing-here"),
        "piggy_automations_list": ("GET", "piggy_automation", "/api/v3/oauth/clients/automations"),
        "piggy_unknown_endpoint": ("GET", None, "/api/v3/nothing-here"),
        "vipecloud_get_automation": ("GET", "vipecloud_automation", "/automations/{id}"),
        "vipecloud_list_automations": ("GET", "vipecloud_automation", "/automations"),
        "vipecloud_unknown_endpoint": ("GET", None, "/automations/1/nothing-here"),
        "zendesk_show_automation": ("GET", "zendesk_automation", "/api/v2/automations/{id}.json"),
        "zendesk_delete_automation": ("DELETE", "zendesk_automation", "/api/v2/automations/{id}.json"),
        "zendesk_list_automations": ("GET", "zendesk_automation", "/api/v2/automations.json"),
        "zendesk_list_active_automations": ("GET", "zendesk_automation", "/api/v2/automations/active.json"),
        "zendesk_search_automations": ("GET", "zendesk_automation", "/api/v2/automations/search.json?query=escalate"),
        "zendesk_show_ticket": ("GET", "ticket", "/api/v2/tickets/{id}.json"),
        "zendesk_delete_ticket": ("DELETE", "ticket", "/api/v2/tickets/{id}.json"),
        "zendesk_list_tickets": ("GET", "ticket", "/api/v2/tickets.json"),
        "zendesk_list_ticket_audits": ("GET", "ticket", "/api/v2/tickets/{id}/audits.json"),
        "zendesk_list_account_audits": ("GET", "ticket", "/api/v2/ticket_audits.json"),
        "zendesk_incremental_tickets": ("GET", "ticket", "/api/v2/incremental/tickets.json?start_time=0"),
        "zendesk_incremental_tickets_cursor": ("GET", "ticket", "/api/v2/incremental/tickets/cursor.json?start_time=0"),
        "zendesk_list_deleted_tickets": ("GET", "deleted_ticket", "/api/v2/deleted_tickets.json"),
        "zendesk_restore_deleted_ticket": ("PUT", "deleted_ticket", "/api/v2/deleted_tickets/{id}/restore.json"),
        "zendesk_destroy_deleted_ticket": ("DELETE", "deleted_ticket", "/api/v2/deleted_tickets/{id}.json"),
        "zendesk_show_job_status": ("GET", "job", "/api/v2/job_statuses/{id}.json"),
        "zendesk_current_user": ("GET", None, "/api/v2/users/me.json"),
        "zendesk_show_user": ("GET", "user", "/api/v2/users/{id}.json"),
        "zendesk_search_users": ("GET", "user", "/api/v2/users/search.json?query=alex"),
        "zendesk_list_users": ("GET", "user", "/api/v2/users.json"),
        "zendesk_show_group": ("GET", "group", "/api/v2/groups/{id}.json"),
        "zendesk_list_groups": ("GET", "group", "/api/v2/groups.json"),
        "zendesk_delete_group": ("DELETE", "group", "/api/v2/groups/{id}.json"),
        "zendesk_delete_user": ("DELETE", "user", "/api/v2/users/{id}.json"),
        "zendesk_incremental_users": ("GET", "user", "/api/v2/incremental/users.json?start_time=0"),
        "zendesk_incremental_users_cursor": ("GET", "user", "/api/v2/incremental/users/cursor.json?start_time=0"),
        "zendesk_list_ticket_comments": ("GET", "ticket", "/api/v2/tickets/{id}/comments.json"),
        "zendesk_list_ticket_tags": ("GET", "ticket", "/api/v2/tickets/{id}/tags.json"),
        "zendesk_list_tags": ("GET", "ticket", "/api/v2/tags.json"),
        "zendesk_list_brands": ("GET", None, "/api/v2/brands.json"),
        "zendesk_show_brand": ("GET", "brand", "/api/v2/brands/{id}.json"),
        "zendesk_unknown_endpoint": ("GET", None, "/api/v2/nothing_here.json"),
    }

    @classmethod
    def serves(cls, function: str) -> bool:
        """Whether ``event`` makes a request of ``function`` (a function added without one would
        stop the bench midway)."""
        resource, _, verb = function.partition("_members_")
        return (function in cls._ON_ONE or hasattr(cls, f"_{function}") or (bool(verb) and resource in cls._GROUPS)
                or function.rpartition("_")[0] in cls._CRUD)

    def event(self, function: str) -> dict:
        if function in self._ON_ONE:
            method, make, target = self._ON_ONE[function]
            made = getattr(self, make)() if make else {}
            return self.http_event(function, method, target.format(**made))
        builder = getattr(self, f"_{function}", None)
        if builder is not None:
            return builder()
        resource, _, verb = function.partition("_members_")
        if verb:
            return self._members(function, *self._GROUPS[resource], verb)
        return self._crud_event(function)

    _GROUPS = {"contact_lists": ("/v1/contact-lists", "contact_list"), "communities": ("/v1/communities", "community")}

    _CRUD = {  # resource path, how a record is made, its id field
        "contacts": ("/v1/contacts", "contact", "uuid"), "contact_lists": ("/v1/contact-lists", "contact_list", "id"),
        "communities": ("/v1/communities", "community", "id"), "custom_fields": ("/v1/custom-fields", "custom_field", "id"),
        "templates": ("/v1/templates", "template", "id"), "users": ("/v1/users", "user", "id"),
        "groups": ("/v1/groups", "group", "id"), "webhooks": ("/v1/webhooks", "webhook", "id"),
        "automations": ("/v1/automations", "native_automation", "id"),
    }
    _UPDATES = {"contacts": {"first_name": "Augusta Ada"}, "contact_lists": {"name": "Renamed"},
                "communities": {"name": "Renamed"}, "custom_fields": {"name": "Renamed"},
                "templates": {"subject": "Hello again"}, "users": {"name": "Alex A. Agent"},
                "groups": {"name": "Renamed"}, "automations": {"title": "Close solved tickets after 4 days"}}

    def _new(self, resource: str) -> dict:
        """The body of a new record of ``resource`` (unique where the API wants it unique)."""
        return {"contacts": {"email": f"{self._unique('grace')}@example.com", "first_name": "Grace"},
                "contact_lists": {"name": self._unique("Trial users")},
                "communities": {"name": self._unique("Beta testers"), "suite_type": "community"},
                "custom_fields": {"name": self._unique("Plan"), "scope": "contact", "type": "text"},
                "templates": {"title": self._unique("Reminder"), "type": "email", "subject": "Reminder",
                              "text": "Hello {{ contact.first_name }}"},
                "users": {"name": "Sam Agent", "email": f"{self._unique('sam')}@example.com", "role": "agent"},
                "groups": {"name": self._unique("Tier 3")},
                "webhooks": {"name": "Orders", "url": "https://example.com/orders"},
                "automations": self.native_automation_body()}[resource]

    def _crud_event(self, function: str) -> dict:
        resource, verb = function.rsplit("_", 1)
        path, make, key = self._CRUD[resource]
        if verb == "create":
            return self.http_event(function, "POST", path, self._new(resource))
        made = getattr(self, make)()
        if verb == "list":
            return self.http_event(function, "GET", path)
        target = f"{path}/{made[key]}"
        if verb == "get":
            return self.http_event(function, "GET", target)
        if verb == "delete":
            return self.http_event(function, "DELETE", target)
        return self.http_event(function, "PATCH", target, self._UPDATES[resource])

    def _members(self, function: str, path: str, make: str, verb: str) -> dict:
        group, contact = getattr(self, make)(), self.contact()
        members = f"{path}/{group['id']}/members"
        if verb == "add":
            return self.http_event(function, "POST", members, {"contact_uuids": [contact["uuid"]]})
        self.call("POST", members, {"contact_uuids": [contact["uuid"]]})
        if verb == "list":
            return self.http_event(function, "GET", members)
        return self.http_event(function, "DELETE", f"{members}/{contact['uuid']}")

    def _automations_test(self):
        automation, ticket = self.native_automation(), self.ticket()
        return self.http_event("automations_test", "POST", f"/v1/automations/{automation['id']}/test",
                               {"ticket_id": ticket["id"]})

    def _events_create(self):
        contact = self.contact()
        return self.http_event("events_create", "POST", "/v1/events", {
            "event": "shop.order_placed", "contact_uuid": contact["uuid"], "data": {"total": 120}})

    # Piggy
    def _piggy_runs_create(self):
        automation, contact = self.piggy_automation(), self.contact()
        form = f"contact_uuid={contact['uuid']}&automation_uuid={automation['uuid']}&data%5Bvoucher_code%5D=WELCOME10"
        return self.http_event("piggy_runs_create", "POST", "/api/v3/oauth/clients/automations/runs", form.encode(),
                               "application/x-www-form-urlencoded")

    # VipeCloud
    def _vipecloud_create_automation(self):
        members, template = self.contact_list(), self.template()
        return self.http_event("vipecloud_create_automation", "POST", "/automations", {
            "contact_list_id": members["id"], "template_type": "email", "template_id": template["id"],
            "trigger_type": "contact", "delay_days": 0, "delay_hours": 0, "delay_min": 0})

    def _vipecloud_update_automation(self):
        automation, members = self.contact_automation()
        return self.http_event("vipecloud_update_automation", "POST", f"/automations/{automation['id']}", {
            "contact_list_id": members["id"], "template_type": "email", "template_id": automation["template_id"],
            "trigger_type": "contact", "delay_days": 1, "delay_hours": 0, "delay_min": 0})

    # Zendesk
    def _zendesk_create_automation(self):
        return self.http_event("zendesk_create_automation", "POST", "/api/v2/automations.json",
                               {"automation": self.zendesk_automation_body()})

    def _zendesk_create_many_automations(self):
        return self.http_event("zendesk_create_many_automations", "POST", "/api/v2/automations/create_many.json",
                               {"automations": [self.zendesk_automation_body()]})

    def _zendesk_update_automation(self):
        automation = self.zendesk_automation()
        return self.http_event("zendesk_update_automation", "PUT", f"/api/v2/automations/{automation['id']}.json",
                               {"automation": {"title": "Escalate open tickets after a day"}})

    def _zendesk_update_many_automations(self):
        automation = self.zendesk_automation()
        return self.http_event("zendesk_update_many_automations", "PUT", "/api/v2/automations/update_many.json",
                               {"automations": [{"id": automation["id"], "position": 1, "active": False}]})

    def _zendesk_destroy_many_automations(self):
        ids = self._two_ids(self.zendesk_automation)
        return self.http_event("zendesk_destroy_many_automations", "DELETE",
                               f"/api/v2/automations/destroy_many.json?ids={ids}")

    def _zendesk_create_ticket(self):
        return self.http_event("zendesk_create_ticket", "POST", "/api/v2/tickets.json", self.ticket_body())

    def _zendesk_create_many_tickets(self):
        return self.http_event("zendesk_create_many_tickets", "POST", "/api/v2/tickets/create_many.json",
                               {"tickets": [self.ticket_body()["ticket"]] * 2})

    def _zendesk_update_ticket(self):
        ticket = self.ticket()
        return self.http_event("zendesk_update_ticket", "PUT", f"/api/v2/tickets/{ticket['id']}.json",
                               {"ticket": {"status": "solved", "tags": ["fire", "resolved"]}})

    def _zendesk_show_many_tickets(self):
        ids = self._two_ids(self.ticket)
        return self.http_event("zendesk_show_many_tickets", "GET", f"/api/v2/tickets/show_many.json?ids={ids}")

    def _zendesk_update_many_tickets(self):
        ids = self._two_ids(self.ticket)
        return self.http_event("zendesk_update_many_tickets", "PUT", f"/api/v2/tickets/update_many.json?ids={ids}",
                               {"ticket": {"status": "pending"}})

    def _zendesk_destroy_many_tickets(self):
        ids = self._two_ids(self.ticket)
        return self.http_event("zendesk_destroy_many_tickets", "DELETE", f"/api/v2/tickets/destroy_many.json?ids={ids}")

    def _zendesk_ticket_tags(self):
        ticket = self.ticket()
        return self.http_event("zendesk_ticket_tags", "PUT", f"/api/v2/tickets/{ticket['id']}/tags.json",
                               {"tags": ["vip"]})

    def _zendesk_restore_many_deleted_tickets(self):
        ids = self._two_ids(self.deleted_ticket)
        return self.http_event("zendesk_restore_many_deleted_tickets", "PUT",
                               f"/api/v2/deleted_tickets/restore_many.json?ids={ids}")

    def _zendesk_destroy_many_deleted_tickets(self):
        ids = self._two_ids(self.deleted_ticket)
        return self.http_event("zendesk_destroy_many_deleted_tickets", "DELETE",
                               f"/api/v2/deleted_tickets/destroy_many.json?ids={ids}")

    def _zendesk_show_many_job_statuses(self):
        ids = self._two_ids(self.job)
        return self.http_event("zendesk_show_many_job_statuses", "GET", f"/api/v2/job_statuses/show_many.json?ids={ids}")

    def _zendesk_create_user(self):
        return self.http_event("zendesk_create_user", "POST", "/api/v2/users.json", {
            "user": {"name": "Alex Agent", "email": f"{self._unique('alex')}@example.com", "role": "agent"}})

    def _zendesk_update_user(self):
        return self.http_event("zendesk_update_user", "PUT", f"/api/v2/users/{self.user()['id']}.json",
                               {"user": {"name": "Alex A. Agent"}})

    def _zendesk_create_or_update_user(self):
        return self.http_event("zendesk_create_or_update_user", "POST", "/api/v2/users/create_or_update.json",
                               {"user": self._zendesk_user()})

    def _zendesk_create_many_users(self):
        return self.http_event("zendesk_create_many_users", "POST", "/api/v2/users/create_many.json",
                               {"users": [self._zendesk_user(), self._zendesk_user()]})

    def _zendesk_create_or_update_many_users(self):
        return self.http_event("zendesk_create_or_update_many_users", "POST",
                               "/api/v2/users/create_or_update_many.json",
                               {"users": [self._zendesk_user(), self._zendesk_user()]})

    def _zendesk_update_many_users(self):
        ids = self._two_ids(self.user)
        return self.http_event("zendesk_update_many_users", "PUT", f"/api/v2/users/update_many.json?ids={ids}",
                               {"user": {"role": "agent"}})

    def _zendesk_destroy_many_users(self):
        ids = self._two_ids(self.user)
        return self.http_event("zendesk_destroy_many_users", "DELETE", f"/api/v2/users/destroy_many.json?ids={ids}")

    @staticmethod
    def _two_ids(make: Callable[[], dict]) -> str:
        """The ids of two records ``make`` makes, as a bulk endpoint's ``ids`` takes them."""
        return ",".join(str(make()["id"]) for _ in range(2))

    def _zendesk_user(self) -> dict:
        return {"name": "Rae Agent", "email": f"{self._unique('rae')}@example.com", "role": "agent"}

    def _zendesk_create_group(self):
        return self.http_event("zendesk_create_group", "POST", "/api/v2/groups.json",
                               {"group": {"name": self._unique("Tier 3")}})

    def _zendesk_update_group(self):
        return self.http_event("zendesk_update_group", "PUT", f"/api/v2/groups/{self.group()['id']}.json",
                               {"group": {"name": "Renamed"}})

    def _zendesk_show_many_users(self):
        ids = self._two_ids(self.user)
        return self.http_event("zendesk_show_many_users", "GET", f"/api/v2/users/show_many.json?ids={ids}")

    # Functions that no route calls
    def _authorizer(self):
        from automations_local.api_gateway import authorizer_event, request_context

        request = self._request("GET", "/api/v2/automations.json")
        route_key = "GET /api/v2/automations.json"
        return authorizer_event(request, route_key, {}, request_context(request, route_key, str(uuid.uuid4())),
                                [self.auth], self.runtime.template.region)

    def _events_ingest(self):
        return self.driven_event("events_ingest", lambda: self.call(
            "POST", "/v1/events", {"event": "shop.order_placed", "contact_uuid": self.contact()["uuid"]}))

    def _run_executor(self):
        def join_now():
            automation, members = self.contact_automation()
            self.call("POST", f"/v1/contact-lists/{members['id']}/members", {"contact_uuids": [self.contact()["uuid"]]})
        return self.driven_event("run_executor", join_now)

    def _rule_expander(self):
        def recurring_rule():
            members, template = self.contact_list(), self.template()
            self.call("POST", "/automations", {"contact_list_id": members["id"], "template_type": "email",
                                               "template_id": template["id"], "trigger_type": "recurring",
                                               "day": "daily", "hour": 9, "min": 0, "ampm": "am"})
            self.runtime.clock.advance(timedelta(days=1).total_seconds())
            self.runtime.scheduler.tick()
        return self.driven_event("rule_expander", recurring_rule)

    def _sweep_coordinator(self):
        return self.driven_event("sweep_coordinator", self.ticket)

    def _sweep_worker(self):
        return self.driven_event("sweep_worker", lambda: (self.ticket(), self.zendesk_automation()))

    def _ticket_job_worker(self):
        return self.driven_event("ticket_job_worker", self.job)


# --- measuring --------------------------------------------------------------------------------


def _lambda_environment(runtime, function) -> dict[str, str]:
    environment, _ = runtime.template.shared_environment()
    return {
        **environment, **function.environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only: a function's own code compiles each time
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": runtime.template.region, "AWS_DEFAULT_REGION": runtime.template.region,
        "AWS_ENDPOINT_URL": runtime.aws_endpoint,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(function.code_dir), "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def _first_answer(function, layer: Path, runtime_dir: Path, event_file: Path, environment: dict[str, str],
                  restored: bool) -> dict:
    code_dir = function.code_dir
    module, _, handler = function.handler.rpartition(".")
    code = _CHILD.format(paths=[str(code_dir), str(layer), str(runtime_dir)], event=str(event_file),
                         name=function.name, memory=function.memory_mb, module=module, handler=handler,
                         restored=restored)
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=code_dir,
                          env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{code_dir.name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_answers(repeats: int, only: set[str] | None = None, restored: bool = False) -> list[dict]:
    """Each function's first answer (median of ``repeats`` fresh interpreters, each with a fresh
    event), against the baseline's, alternating; ``restored``: the functions the template gives
    SnapStart, counted from a restore, their init and priming done before (the baseline's client
    made at its import)."""
    from automations_local.runtime import LocalRuntime

    with tempfile.TemporaryDirectory(prefix="automations-cold-") as scratch_dir, LocalRuntime(port=0) as runtime:
        scratch = Path(scratch_dir)
        for driver in (runtime.queues, runtime.scheduler):
            driver.stop()  # driven here, when a request needs it
        artifact = built_artifact(scratch, runtime.template)
        runtime_dir = runtime_packages(scratch)
        baseline_dir = scratch / "baseline"
        baseline_dir.mkdir()
        (baseline_dir / "app.py").write_text(_BASELINE)
        requests = Requests(runtime)
        baseline_event = scratch / "baseline.json"
        baseline_event.write_text(json.dumps(requests.event("contacts_get")))
        functions = {}
        for function in runtime.template.functions.values():
            snapstart = "SnapStart" in runtime.template.resolved(function.logical_id)
            if (not only or function.code_dir.name in only) and (snapstart or not restored):
                functions.setdefault(function.code_dir.name, function)
        if unserved := sorted(name for name in functions if not Requests.serves(name)):
            raise SystemExit(f"no request to measure {', '.join(unserved)} with: add one to Requests")
        rows = []
        for name in sorted(functions):
            function = dataclasses.replace(functions[name], code_dir=artifact.functions[name])
            baseline = dataclasses.replace(function, code_dir=baseline_dir, handler="app.handler")
            environment = _lambda_environment(runtime, function)
            baseline_environment = _lambda_environment(runtime, baseline)
            samples, base, fresh = [], [], []
            for repeat in range(repeats):
                event_file = scratch / f"{name}-{repeat}.json"
                event_file.write_text(json.dumps(requests.event(name)))
                base.append(_first_answer(baseline, artifact.layer, runtime_dir, baseline_event, baseline_environment,
                                          restored))
                samples.append(_first_answer(function, artifact.layer, runtime_dir, event_file, environment, restored))
                if restored:  # the same function from a fresh interpreter, beside it
                    event_file.write_text(json.dumps(requests.event(name)))
                    fresh.append(_first_answer(function, artifact.layer, runtime_dir, event_file, environment, False))
            row = {"handler": name, "status": samples[0]["status"]}
            for kind in ("wall_ms", "cpu_ms"):
                row[kind] = statistics.median(s[kind] for s in samples)
                row[f"baseline_{kind}"] = statistics.median(s[kind] for s in base)
                row[f"{kind[:-3]}_ratio"] = row[kind] / row[f"baseline_{kind}"]
                if fresh:
                    row[f"fresh_{kind}"] = statistics.median(s[kind] for s in fresh)
            rows.append(row)
        return [{"note": artifact.note}, *rows]


def print_figures(repeats: int, only: set[str] | None = None, restored: bool = False) -> None:
    note, *rows = first_answers(repeats, only, restored)
    if restored:
        _print_restored(repeats, note, rows)
        return
    print("\nCold start to the first answer, from the built artifact (median of "
          f"{repeats} fresh interpreters), against a minimal handler: import boto3, one GetItem")
    print(f"({note['note']})")
    print(f"{'handler':<38}{'status':>7}{'ms':>8}{'base ms':>9}{'ratio':>7}{'CPU ms':>8}{'base CPU':>10}{'CPU ratio':>11}")
    for r in rows:
        print(f"{r['handler']:<38}{r['status'] or '-':>7}{r['wall_ms']:>8.1f}{r['baseline_wall_ms']:>9.1f}"
              f"{r['wall_ratio']:>7.2f}{r['cpu_ms']:>8.1f}{r['baseline_cpu_ms']:>10.1f}{r['cpu_ratio']:>11.2f}")
    for kind in ("wall", "cpu"):
        ratios = [r[f"{kind}_ratio"] for r in rows]
        worst = max(rows, key=lambda r: r[f"{kind}_ratio"])
        print(f"{kind.upper():<4} median {statistics.median(ratios):.2f}  max {max(ratios):.2f} ({worst['handler']})  "
              f"over {EACH_HANDLER_TARGET}: {sum(r > EACH_HANDLER_TARGET for r in ratios)}  "
              f"over {MEDIAN_TARGET}: {sum(r > MEDIAN_TARGET for r in ratios)} of {len(ratios)}")
    print(f"targets: every handler <= {EACH_HANDLER_TARGET}x, median <= {MEDIAN_TARGET}x")


def _print_restored(repeats: int, note: dict, rows: list[dict]) -> None:
    """From a SnapStart restore (what Lambda's restore itself takes is not in it: AWS's side),
    beside the same function from a fresh interpreter, and the minimal handler restored alike."""
    print("\nSnapStart: the first answer after a restore (init and priming before the snapshot), beside the same "
          f"function from a fresh interpreter (median of {repeats} each), from the built artifact; the restore "
          "itself (Lambda's side) is not counted")
    print(f"({note['note']}; baseline: the minimal handler restored alike, one GetItem on the client its import made)")
    print(f"{'handler':<38}{'status':>7}{'ms':>8}{'CPU ms':>8}{'fresh ms':>10}{'fresh CPU':>11}{'CPU share':>11}"
          f"{'base CPU':>10}")
    for r in rows:
        print(f"{r['handler']:<38}{r['status'] or '-':>7}{r['wall_ms']:>8.1f}{r['cpu_ms']:>8.1f}{r['fresh_wall_ms']:>10.1f}"
              f"{r['fresh_cpu_ms']:>11.1f}{r['cpu_ms'] / r['fresh_cpu_ms']:>11.2f}{r['baseline_cpu_ms']:>10.1f}")
    for kind in ("wall_ms", "cpu_ms"):
        print(f"{kind[:-3].upper():<4} median {statistics.median(r[kind] for r in rows):.1f} ms after a restore, "
              f"{statistics.median(r[f'fresh_{kind}'] for r in rows):.1f} ms fresh; "
              f"max {max(r[kind] for r in rows):.1f} ms ({max(rows, key=lambda r: r[kind])['handler']})")

