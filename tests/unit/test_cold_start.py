"""What a handler's cold start imports and builds: only its own resolver and event classes from
Powertools (which every handler reaches through ``automations.surfaces``), no service module, no
pydantic model before its first request; and the native catch-all neither Powertools' resolver
nor pydantic. (The bench times it: `automations bench --only imports`.)"""
import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from automations_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]

NOT_AT_IMPORT = ["asyncio", "aws_lambda_powertools.event_handler.appsync",
                 "aws_lambda_powertools.event_handler.bedrock_agent",
                 "aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event"]


def fresh_python(code: str, **options) -> Any:
    """What ``code``, run in a fresh interpreter, printed last, as JSON."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, **options)
    return json.loads(done.stdout.splitlines()[-1])


def cold_import(function: str, probe: str) -> dict:
    """Import functions/<function>/app.py in a fresh interpreter, as Lambda does; ``probe`` is an
    expression evaluated afterwards, its value returned."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'functions' / function)!r}); import app; "
            f"print(json.dumps({probe}))")
    return fresh_python(code, cwd=ROOT / "functions" / function)


def after_a_first_invocation(probe: str) -> object:
    """A handler wrapped as every function's is, invoked once in a fresh interpreter as Lambda
    would with tracing on; then ``probe`` (code printing JSON with json and sys imported) runs: what
    it printed."""
    code = ("import json, sys; from automations.telemetry import lambda_handler; "
            "lambda_handler(lambda event, context: None)({}, None); " + probe)
    environment = {**os.environ, "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "probe",
                   "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                   "POWERTOOLS_TRACE_DISABLED": "false", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR"}
    return fresh_python(code, env=environment)


def _handler_files() -> dict[str, Path]:
    functions = load_template(ROOT / "template.yaml").functions.values()
    return {function.code_dir.name: function.handler_file for function in functions}


def _queue_handlers() -> list[str]:
    return sorted({function.code_dir.name for function in load_template(ROOT / "template.yaml").functions.values()
                   if any(event.type == "SQS" for event in function.events)})


def test_every_handler_reaches_powertools_through_the_surfaces():
    """A handler importing Powertools' event handler or data classes itself, before
    ``automations.surfaces`` set them up, loads every resolver or event class they have."""
    own_imports = {}
    for function, path in _handler_files().items():
        modules = [node.module for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)]
        modules += [alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                    for alias in node.names]
        if any(module and module.startswith("aws_lambda_powertools") for module in modules):
            own_imports[function] = path
    assert len(_handler_files()) > 100 and own_imports == {}


@pytest.mark.parametrize("function", _queue_handlers())
def test_a_queue_handler_loads_only_the_event_classes_its_batches_use(function):
    modules = cold_import(function, "sorted(sys.modules)")
    event_classes = [m for m in modules if m.startswith("aws_lambda_powertools.utilities.data_classes.")]
    assert "aws_lambda_powertools.utilities.data_classes.sqs_event" in event_classes
    assert [m for m in NOT_AT_IMPORT if m in modules and m != "asyncio"] == []  # Powertools' batch needs asyncio
    assert len(event_classes) <= 12  # the SQS event and what Powertools' batch module names (32 whole)


@pytest.mark.parametrize("function", ["users_get", "automations_list", "contacts_create"])
def test_a_native_handler_imports_only_what_its_route_uses(function):
    loaded = cold_import(function, "{'modules': sorted(sys.modules), 'built': sorted(name for name, model in "
                                   "vars(sys.modules['app']).items() if getattr(model, '__pydantic_complete__', "
                                   "False))}")
    assert "aws_lambda_powertools.event_handler.api_gateway" in loaded["modules"]  # the one resolver it uses
    assert [m for m in NOT_AT_IMPORT if m in loaded["modules"]] == []
    assert [m for m in loaded["modules"] if m.startswith("automations.service")] == []
    assert loaded["built"] == []


_COLD_IMPORTS = """
import json, os, sys
import boto3, botocore.session, pydantic  # shared by every handler; none loads Powertools
for directory in json.loads(sys.argv[1]):
    reader, writer = os.pipe()
    if os.fork() == 0:  # a child imports one handler as a fresh Lambda process would
        os.close(reader)
        os.chdir(directory)
        sys.path.insert(0, directory)
        import app
        os.write(writer, json.dumps(sorted(sys.modules)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as answer:
        print(json.dumps([directory, json.loads(answer.read())]))
    os.wait()
"""


def test_every_function_loads_only_the_resolver_and_event_classes_it_uses():
    """Every handler of the template, imported cold: the trick ``automations.surfaces`` plays on
    Powertools holds for each, not only for the few timed ones."""
    functions = load_template(ROOT / "template.yaml").functions.values()
    queue_fed = {str(f.code_dir) for f in functions if any(event.type == "SQS" for event in f.events)}
    done = subprocess.run([sys.executable, "-c", _COLD_IMPORTS, json.dumps(sorted({str(f.code_dir) for f in functions}))],
                          capture_output=True, text=True, check=True)
    loaded = dict(json.loads(line) for line in done.stdout.splitlines())
    assert len(loaded) > 100
    unused = {Path(directory).name: [m for m in NOT_AT_IMPORT if m in modules
                                     and not (m == "asyncio" and directory in queue_fed)]  # Powertools' batch needs it
              for directory, modules in loaded.items()}
    assert {function: modules for function, modules in unused.items() if modules} == {}


def test_the_ports_load_no_domain_module():
    """Every service module imports the ports; when they imported the domain's types for their
    annotations, every function loaded all 15 domain modules (each dataclass costs its cold start
    about half a millisecond of CPU: 20-30 ms in all)."""
    code = "import json, sys, automations.ports; print(json.dumps(sorted(m for m in sys.modules if 'domain' in m)))"
    assert fresh_python(code) == []


def test_no_service_nor_adapter_makes_the_ports_protocols():
    """The services named the ports' interfaces in their annotations and imported them with the
    store's refusals: every function made the 35 Protocol classes (a few ms of CPU) at its cold
    start. The refusals live apart (store_refusals); the interfaces are for type checking."""
    code = ("import importlib, json, pkgutil, sys, automations.adapters, automations.service; "
            "[importlib.import_module(f'{package.__name__}.{module.name}') "
            " for package in (automations.service, automations.adapters) for module in pkgutil.iter_modules(package.__path__)]; "
            "print(json.dumps('automations.ports' in sys.modules))")
    assert fresh_python(code) is False


def test_the_users_and_groups_storage_loads_nothing_of_the_contacts():
    """The users' and agent groups' storage took the numbered records' base from the contacts'
    storage: every Zendesk ticket, user and group function and the native users' and groups' loaded
    the contacts' domain and event log modules (about 8 ms of CPU) at its first request."""
    code = ("import json, sys, automations.adapters.dynamo_people; "
            "print(json.dumps(sorted(m for m in sys.modules if 'contact' in m)))")
    assert fresh_python(code) == []


@pytest.mark.parametrize("function", ["zendesk_show_ticket", "zendesk_list_groups", "zendesk_show_user"])
def test_a_zendesk_ticket_or_people_function_loads_nothing_of_the_automations_nor_the_contacts(function):
    """The Zendesk surface imported the automation service (and through it every kind of rule)
    for a bulk limit and its sort checks, and the users' service the contact service for the
    numbered records' base: functions that serve neither paid for both at their cold start. Then
    the automations' model (its 10 dataclasses) came with the surface's automation parsing, the
    caller's Principal and the ticket's vocabularies, and the contacts' with the users' email and
    name checks."""
    modules = cold_import(function, "sorted(sys.modules)")
    assert [m for m in modules if m in ("automations.service.automations", "automations.service.contacts",
                                        "automations.domain.contact_rules", "automations.domain.event_rules",
                                        "automations.domain.model", "automations.domain.contacts")] == []


def services_loaded(*wired: str) -> list[str]:
    """The product's modules a fresh interpreter has loaded once ``services()`` has wired each of
    ``wired`` (a first request's services are wired on first use)."""
    code = ("import json, sys; from automations.bootstrap import services; "
            f"[getattr(services(), name) for name in {list(wired)!r}]; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('automations'))))")
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "probe"}
    return fresh_python(code, env=environment)


RULE_MODULES = ("automations.service.automations", "automations.domain.contact_rules", "automations.domain.event_rules",
                "automations.domain.model", "automations.domain.ticket", "automations.service.ingestion",
                "automations.domain.run", "automations.domain.messages")
TICKET_MODULES = ("automations.service.tickets", "automations.adapters.dynamo_tickets", "automations.domain.ticket",
                  "automations.domain.audit")


def test_the_contact_side_s_services_load_no_rule_nor_run_module():
    """The contacts', lists', communities', fields' and templates' services lived with the contact
    automations' (and through them every kind of rule, the ticket's domain among them), and a
    contact's service wired the event ingestion (the run's domain, the run engine's messages)
    before any change: about 30 native functions, and the VipeCloud and Piggy contact routes, paid
    for both at their first request. The ingestion is wired at a contact's first change."""
    loaded = services_loaded("contacts", "contact_lists", "communities", "custom_fields", "templates")
    assert "automations.service.contacts" in loaded
    assert [m for m in loaded if m in RULE_MODULES] == []


def test_the_users_and_agent_groups_services_load_nothing_of_the_tickets():
    """The users' service took Zendesk's record pages and its find-or-create from the tickets'
    service, and the users' store its account-partition base from the tickets' store: every
    Zendesk user and group function and the native users' and groups' loaded the ticket, its audit
    and their service and storage at their first request."""
    loaded = services_loaded("users", "agent_groups")
    assert "automations.service.people" in loaded
    assert [m for m in loaded if m in TICKET_MODULES] == []


@pytest.mark.parametrize("function", ["zendesk_show_user", "zendesk_list_groups", "zendesk_incremental_users"])
def test_a_zendesk_people_function_imports_nothing_of_the_tickets(function):
    """The users' incremental exports took their request and answer from the tickets' surface."""
    modules = cold_import(function, "sorted(sys.modules)")
    assert "automations.surfaces.zendesk_people" in modules
    assert [m for m in modules if m in TICKET_MODULES + ("automations.surfaces.zendesk_tickets",)] == []


@pytest.mark.parametrize("function", ["users_get", "groups_update", "templates_delete", "automations_list"])
def test_a_native_function_makes_no_contact_models_it_does_not_answer_with(function):
    """The records' routes took their path ids, PATCH changes and id pages from the contacts'
    models module: a user's, a group's or an automation's route, or any delete, made its 13
    pydantic models (about a millisecond each) and loaded the contacts' domain module."""
    modules = cold_import(function, "sorted(sys.modules)")
    assert "automations.surfaces.native" in modules
    assert [m for m in modules if m in ("automations.surfaces.native_contacts", "automations.domain.contacts")] == []


def test_the_native_catch_all_imports_no_resolver_nor_pydantic():
    modules = cold_import("native_unknown_endpoint", "sorted(sys.modules)")
    assert [m for m in modules if m.startswith(("pydantic", "aws_lambda_powertools.event_handler."))] == []


@pytest.mark.parametrize("package", ["aws_lambda_powertools.event_handler",
                                     "aws_lambda_powertools.utilities.data_classes"])
def test_powertools_packages_set_up_lazily_give_every_name_they_gave(package):
    """automations.surfaces registers these without running their __init__: each name it
    exported is still there, the very same class or function, imported on first use."""
    def names(setup: str) -> dict:
        code = (f"import importlib, json, sys; {setup}; package = importlib.import_module({package!r}); "
                "print(json.dumps({name: f'{getattr(package, name).__module__}.{getattr(package, name).__qualname__}' "
                "for name in package.__all__}))")
        return fresh_python(code)

    whole = names("pass")
    assert len(whole) > 10 and names("import automations.surfaces") == whole


def test_wiring_the_deliveries_and_the_run_engine_makes_no_sender_s_nor_scheduler_s_client(aws, monkeypatch):
    """The run executor, the sweep's worker and the relay wire every channel's sender; building the
    four AWS clients and the TLS context (system certificates read) at once cost a cold start about
    100 ms of CPU for channels its first answer never used. The run engine's Scheduler client, for
    a first run that schedules nothing, another 10-20 ms."""
    from automations import bootstrap
    from automations.adapters import aws as clients
    from automations.adapters import public_http

    made = []
    monkeypatch.setattr(clients, "client", lambda service: made.append(service) or object())
    monkeypatch.setattr(public_http, "tls_context", lambda: made.append("tls") or object())
    bootstrap.reset()
    try:
        wired = bootstrap.services()
        assert wired.deliveries is not None and wired.run_executor is not None and wired.hourly_check is not None
        assert set(made) <= {"dynamodb", "sqs"}  # the table, which every use reads; the run queue
    finally:
        bootstrap.reset()


def test_the_run_queue_s_adapter_imports_nothing_of_the_sweep():
    """The queues' adapter named the sweep's messages for its types only: importing it (the run
    executor's and the ingestion's first batch, to hand back what they leave unstarted) loaded
    the sweep's service module and its rule evaluator."""
    code = "import sys, automations.adapters.sqs; print('automations.service.sweep' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_tracer_patches_only_botocore_the_one_library_the_functions_call_out_with():
    """By default the X-Ray SDK patches every library it supports that imports, sqlite3 among them
    (the standard library's, so always): a first invocation imported it and ten other patch
    modules for calls no function makes. The AWS calls stay traced."""
    traced = after_a_first_invocation("from botocore.client import BaseClient; "
                                      "print(json.dumps({'modules': sorted(sys.modules), "
                                      "'traced': type(vars(BaseClient)['_make_api_call']).__name__}))")
    assert traced["traced"] == "FunctionWrapper"  # the AWS calls wrapped by the X-Ray SDK
    assert [m for m in traced["modules"] if m.startswith(("sqlite3", "aws_xray_sdk.ext.")) and "botocore" not in m
            and m not in ("aws_xray_sdk.ext", "aws_xray_sdk.ext.util", "aws_xray_sdk.ext.boto_utils")] == []


def test_the_tracer_s_first_invocation_loads_no_asyncio():
    """The X-Ray SDK's wrapt, from its version 2, imported asyncio as it loaded: about 20 ms of CPU
    on every function's first invocation, which none of the API's functions uses (the queue
    functions load it for Powertools' batch module anyway)."""
    loaded = after_a_first_invocation("print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
                                      "('asyncio', 'wrapt', 'aws_xray_sdk'))))")
    assert "aws_xray_sdk.core" in loaded and "wrapt" in loaded  # the Tracer was made, and patched botocore
    assert [m for m in loaded if m.startswith("asyncio")] == []


def test_the_bench_finds_a_nested_stack_s_functions_where_sam_build_puts_them():
    from automations_local.bench_cold_start import built_functions

    build = Path("/build")
    functions = built_functions(load_template(ROOT / "template.yaml"), build)
    assert len(functions) > 100
    assert functions["run_executor"] == build / "RunExecutorFunction"
    assert functions["users_get"] == build / "NativeRecordsStack" / "UsersGetFunction"


def test_the_bench_has_a_request_for_every_function():
    """`automations bench --only imports` measures each function with a request of its own; one
    added without it would stop the bench."""
    from automations_local.bench_cold_start import Requests

    assert [name for name in sorted(_handler_files()) if not Requests.serves(name)] == []
    assert not Requests.serves("zendesk_no_such_function")


def test_the_benchs_sweep_rules_never_match_the_default_close_rule():
    """Each automation the bench makes has a threshold of its own; one equal to the default close
    rule's (96 hours, with the same action) was refused as identical, stopping a whole run."""
    import itertools

    from automations.service.automations import DEFAULT_CLOSE_RULE
    from automations_local.bench_cold_start import Requests

    requests = Requests.__new__(Requests)
    requests._made = itertools.count(1)
    default_hours = {c.value for c in DEFAULT_CLOSE_RULE.conditions.all if c.field == "SOLVED"}
    bodies = [requests.native_automation_body() for _ in range(500)]
    thresholds = [c["value"] for body in bodies for c in body["conditions"]["all"] if c["field"] == "SOLVED"]
    assert len(set(thresholds)) == 500 and not default_hours & set(thresholds)
