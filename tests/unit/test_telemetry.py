"""Telemetry: each invocation's keys on its own log lines (also when the local runtime runs
invocations side by side), the keys a block adds, and metrics as CloudWatch EMF lines with
bounded dimensions."""
from __future__ import annotations

import io
import json
import threading
from contextlib import contextmanager
from types import SimpleNamespace

from automations import telemetry
from automations.surfaces.native import NativeResolver


@contextmanager
def captured_logs():
    """The product logger's JSON lines while the block runs."""
    buffer, handler = io.StringIO(), telemetry.logger.logger_handler
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        handler.setStream(previous or buffer)


def emitted(out: str) -> list[dict]:
    """The EMF documents printed to stdout."""
    return [doc for doc in (json.loads(line) for line in out.splitlines() if line.startswith("{")) if "_aws" in doc]


def metric(documents: list[dict], name: str) -> list[dict]:
    found = []
    for doc in documents:
        (definition,) = doc["_aws"]["CloudWatchMetrics"]
        if any(m["Name"] == name for m in definition["Metrics"]):
            found.append({**doc, "dimensions": definition["Dimensions"][0], "namespace": definition["Namespace"]})
    return found


def test_concurrent_invocations_keep_their_own_function_name_and_keys():
    barrier = threading.Barrier(2)

    @telemetry.lambda_handler
    def handler(event, context):
        with telemetry.log_keys(run_id=event["run_id"]):
            barrier.wait(timeout=10)  # both invocations have set their keys before either logs
            telemetry.logger.info("working")
        barrier.wait(timeout=10)
        telemetry.logger.info("done")

    def call(name: str) -> None:
        handler({"run_id": f"run_{name}"}, SimpleNamespace(function_name=name, aws_request_id=f"req-{name}"))

    with captured_logs() as lines:
        threads = [threading.Thread(target=call, args=(name,)) for name in ("alpha", "beta")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        logged = lines()
    working = {line["function_name"]: line for line in logged if line["message"] == "working"}
    assert set(working) == {"alpha", "beta"}
    for name, line in working.items():
        assert line["run_id"] == f"run_{name}" and line["function_request_id"] == f"req-{name}"
        assert line["service"] == "automations"
    done = [line for line in logged if line["message"] == "done"]
    assert len(done) == 2 and all("run_id" not in line for line in done)  # a block's keys end with it
    with captured_logs() as lines:
        telemetry.logger.info("after")
    assert "function_name" not in lines()[0]  # an invocation's keys end with it


def test_metrics_are_emf_with_the_stack_as_service_and_ids_as_properties(capsys, monkeypatch):
    monkeypatch.setenv("STACK_NAME", "automations-prod")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Automations")
    telemetry.count("RunsSucceeded", dimension=("trigger", "event"), account_id="acc_1", run_id="run_1")
    telemetry.measure("FiringLateness", 12.5, "Seconds", run_id="run_1")
    documents = emitted(capsys.readouterr().out)
    (runs,) = metric(documents, "RunsSucceeded")
    assert runs["namespace"] == "Automations" and runs["dimensions"] == ["service", "trigger"]
    assert (runs["service"], runs["trigger"], runs["RunsSucceeded"]) == ("automations-prod", "event", [1.0])
    assert runs["account_id"] == "acc_1" and runs["run_id"] == "run_1"  # properties, not dimensions
    (late,) = metric(documents, "FiringLateness")
    assert late["dimensions"] == ["service"] and late["FiringLateness"] == [12.5]
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "1")
    telemetry.count("RunsSucceeded")
    assert emitted(capsys.readouterr().out) == []


def test_a_command_keeps_stdout_its_own(capsys):
    """The local runtime sends the functions' logs and metrics to stderr, so that a command such
    as `automations bench` prints only its figures on stdout."""
    elsewhere = io.StringIO()
    before = telemetry.send_output_to(elsewhere)
    try:
        telemetry.count("RunsSucceeded", run_id="run_1")
        telemetry.logger.info("while the command runs")
    finally:
        telemetry.restore_output(before)
    assert emitted(capsys.readouterr().out) == []
    assert metric(emitted(elsewhere.getvalue()), "RunsSucceeded")
    assert "while the command runs" in elsewhere.getvalue()
    telemetry.count("RunsSucceeded")
    assert metric(emitted(capsys.readouterr().out), "RunsSucceeded")


def test_every_handler_of_the_template_goes_through_the_telemetry_wrapper():
    from pathlib import Path

    from automations_local.lambdas import sandboxes
    from automations_local.template import load_template

    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    unobserved = []
    for function in template.functions.values():
        with sandboxes(function).handler() as handler:
            pass
        module = __import__("sys").modules[handler.__module__]
        # A native resolver's resolve() is observed: the handler is it (``handler = app.resolve``) or calls it.
        native = any(isinstance(app, NativeResolver) for app in (getattr(handler, "__self__", None),
                                                                 getattr(module, "app", None)))
        delegates = any(getattr(value, "observed", False) for value in vars(module).values())  # e.g. Piggy's runs
        if not (getattr(handler, "observed", False) or native or delegates):
            unobserved.append(function.logical_id)
    assert len(template.functions) > 80 and not unobserved


def test_the_local_runtime_shows_one_readable_line_per_log_record_and_keeps_json_and_metrics_apart(capsys):
    """`automations serve` by default: a line a person reads for each product log record at INFO
    and above, no JSON and no metric line on the console; those go to a file (or nowhere)."""
    console, structured = io.StringIO(), io.StringIO()
    before = telemetry.route_output(telemetry.Output(structured, console))
    try:
        telemetry.logger.debug("details")
        telemetry.logger.info("run %s sent", "run_1")
        try:
            raise ValueError("bad\ninput")
        except ValueError:
            telemetry.logger.exception("the batch failed")
        telemetry.count("RunsSucceeded")
    finally:
        telemetry.restore_output(before)
    lines = console.getvalue().splitlines()
    assert [line[9:] for line in lines] == ["INFO    run run_1 sent", "ERROR   the batch failed (ValueError: bad input)"]
    assert "{" not in console.getvalue() and emitted(capsys.readouterr().out) == []
    assert metric(emitted(structured.getvalue()), "RunsSucceeded")
    assert any(json.loads(line).get("message") == "run run_1 sent" for line in structured.getvalue().splitlines())
    nowhere = telemetry.route_output(telemetry.Output(None))
    try:
        telemetry.count("RunsSucceeded")
        telemetry.logger.info("unseen")
    finally:
        telemetry.restore_output(nowhere)
    captured = capsys.readouterr()
    assert "unseen" not in captured.out + captured.err and emitted(captured.out) == []
