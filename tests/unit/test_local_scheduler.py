"""Schedules fired on the local clock: expressions, the template's schedules, the Scheduler
API's schedules (one-time across a DST change, deleted after firing, disabled, unusable), the
background ticker, and the tick and sweep control endpoints; against a throwaway template and
handlers over moto's mock_aws, with a frozen MovableClock."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from throwaway_project import write_project

from automations import bootstrap
from automations.clock import MovableClock
from automations_local import LOGGER_NAME, control_api
from automations_local.api_gateway import HttpRequest
from automations_local.queues import QueueDriver
from automations_local.resources import create_resources
from automations_local.scheduler import Cron, LocalScheduler, OneTime, Rate, ScheduleExpressionError, parse_expression
from automations_local.server import ControlApi
from automations_local.template import load_template

UTC = timezone.utc
T0 = datetime(2030, 3, 30, 12, 0, tzinfo=UTC)  # a Saturday; Europe/Amsterdam goes to summer time on the 31st

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
  Tasks:
    Type: AWS::SQS::Queue
  Hourly:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/coordinator/
      Handler: app.handler
      Events:
        Sweep:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            DeadLetterConfig: {Arn: !GetAtt DeadLetters.Arn}
  Reports:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/recorder/
      Handler: app.handler
      Events:
        Weekdays:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 9 ? * MON-FRI *)
            ScheduleExpressionTimezone: Europe/Amsterdam
            Input: '{"report": "daily"}'
        Legacy: {Type: Schedule, Properties: {Schedule: rate(1 day)}}
        Off: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute), State: DISABLED}}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/recorder/
      Handler: app.handler
      Events:
        Tasks: {Type: SQS, Properties: {Queue: !GetAtt Tasks.Arn, BatchSize: 10}}
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/broken/
      Handler: app.handler
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig: {OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}}
  Failures:
    Type: AWS::SQS::Queue
  Fragile:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/broken/, Handler: app.handler}
"""

# Every handler logs (function, event) to $RECEIVED; the coordinator also enqueues three tasks.
HANDLERS = {
    "recorder": """
        import json, os

        def handler(event, context):
            with open(os.environ["RECEIVED"], "a") as log:
                log.write(json.dumps([context.function_name.rsplit("-", 1)[1], event]) + "\\n")
    """,
    "coordinator": """
        import json, os
        import boto3

        def handler(event, context):
            with open(os.environ["RECEIVED"], "a") as log:
                log.write(json.dumps(["Hourly", event]) + "\\n")
            sqs = boto3.client("sqs", region_name="us-east-1")
            url = sqs.get_queue_url(QueueName="automations-local-Tasks")["QueueUrl"]
            for n in range(3):
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"task": n}))
            return {"sweep_id": "sweep_1"}
    """,
    "broken": """
        import json, os

        def handler(event, context):
            with open(os.environ["RECEIVED"], "a") as log:
                log.write(json.dumps(["Broken", event]) + "\\n")
            raise RuntimeError("target exploded")
    """,
}


class Project:
    def __init__(self, template, clock, received):
        self.template, self.clock, self._received = template, clock, received
        self.scheduler = LocalScheduler(template, clock, tick_interval_s=0.05)
        self.api = boto3.client("scheduler", region_name=template.region)

    def received(self, function: str | None = None) -> list:
        if not self._received.exists():
            return []
        calls = [json.loads(line) for line in self._received.read_text().splitlines()]
        return [event for name, event in calls if function in (None, name)]

    def records(self, function: str) -> list[dict]:
        """The SQS records ``function`` was handed."""
        return [record for event in self.received(function) for record in event["Records"]]

    def fired(self, source: str | None = None, **moves) -> list[tuple[str, str]]:
        """Move the clock (advance=seconds or set=datetime), tick; (schedule, due_at) fired,
        from one source ("template" or "scheduler") or both."""
        if "set" in moves:
            self.clock.set(moves["set"])
        if "advance" in moves:
            self.clock.advance(moves["advance"])
        return [(f["schedule"], f["due_at"]) for f in self.scheduler.tick() if source in (None, f["source"])]

    def create(self, name: str, expression: str, *, function: str = "Reports", zone: str | None = None,
               **extra) -> None:
        target = {"Arn": self.template.arn(function), "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                  "Input": json.dumps({"schedule": name})}
        if zone:
            extra["ScheduleExpressionTimezone"] = zone
        self.api.create_schedule(Name=name, ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
                                 Target=target, **extra)

    def exists(self, name: str) -> bool:
        try:
            self.api.get_schedule(Name=name)
        except ClientError:
            return False
        return True


@pytest.fixture
def project(tmp_path, monkeypatch, empty_aws):
    monkeypatch.setenv("RECEIVED", str(tmp_path / "received.jsonl"))
    template = load_template(write_project(tmp_path, TEMPLATE, HANDLERS))
    create_resources(template)
    project = Project(template, MovableClock(T0, frozen=True), tmp_path / "received.jsonl")
    try:
        yield project
    finally:
        project.scheduler.stop()


# --- expressions ---------------------------------------------------------------------------------


def test_rate_and_at_expressions():
    assert parse_expression("rate(1 hour)") == Rate(timedelta(hours=1))
    assert parse_expression("rate(5 minutes)") == Rate(timedelta(minutes=5))
    assert parse_expression("rate(2 days)") == Rate(timedelta(days=2))
    # 10:00 in Amsterdam is 09:00Z in winter and 08:00Z in summer.
    assert parse_expression("at(2030-03-30T10:00:00)", "Europe/Amsterdam") == OneTime(datetime(2030, 3, 30, 9, tzinfo=UTC))
    assert parse_expression("at(2030-03-31T10:00:00)", "Europe/Amsterdam") == OneTime(datetime(2030, 3, 31, 8, tzinfo=UTC))


def _next(expression: str, zone: str, after: datetime) -> datetime | None:
    cron = parse_expression(expression, zone)
    assert isinstance(cron, Cron)
    return cron.after(after)


def test_cron_weekdays_in_a_timezone():
    friday_evening = datetime(2030, 3, 29, 17, 0, tzinfo=UTC)
    # Monday 1 April 09:00 Amsterdam, summer time by then: 07:00Z.
    assert _next("cron(0 9 ? * MON-FRI *)", "Europe/Amsterdam", friday_evening) == datetime(2030, 4, 1, 7, tzinfo=UTC)
    assert _next("cron(15,45 */6 * * ? *)", "UTC", friday_evening) == datetime(2030, 3, 29, 18, 15, tzinfo=UTC)
    assert _next("cron(0 0 1 JAN ? 2031)", "UTC", friday_evening) == datetime(2031, 1, 1, tzinfo=UTC)
    assert _next("cron(0 0 29 2 ? *)", "UTC", friday_evening) == datetime(2032, 2, 29, tzinfo=UTC)
    assert _next("cron(0 0 31 4 ? *)", "UTC", friday_evening) is None  # 31 April never comes


def test_cron_across_dst_changes():
    # 02:30 does not exist in Amsterdam on 31 March 2030: skipped, next is 1 April (00:30Z).
    assert _next("cron(30 2 * * ? *)", "Europe/Amsterdam", datetime(2030, 3, 30, 12, tzinfo=UTC)) == \
        datetime(2030, 4, 1, 0, 30, tzinfo=UTC)
    # 02:30 happens twice on 27 October 2030: fires at the first, and next on the 28th.
    first = _next("cron(30 2 * * ? *)", "Europe/Amsterdam", datetime(2030, 10, 26, 12, tzinfo=UTC))
    assert first == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)
    assert _next("cron(30 2 * * ? *)", "Europe/Amsterdam", first) == datetime(2030, 10, 28, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("expression, zone", [
    ("rate(0 hours)", None), ("rate(5 weeks)", None), ("rate(1.5 hours)", None), ("every hour", None),
    ("cron(0 9 * * ? )", None), ("cron(0 9 * * MON *)", None), ("cron(0 9 ? * ? *)", None),
    ("cron(0 25 * * ? *)", None), ("cron(0 9 L * ? *)", None), ("cron(0 9 ? * 2#1 *)", None),
    ("cron(0 9 15W * ? *)", None), ("cron(0 9 ? * FRI-MON *)", None), ("cron(*/0 9 * * ? *)", None),
    ("at(2030-02-30T10:00:00)", None), ("at(2030-01-01 10:00)", None), ("at(garbage)", None),
    ("at(2030-01-01T10:00:00)", "Mars/Olympus"),
])
def test_bad_or_unsupported_expressions_are_refused(expression, zone):
    with pytest.raises(ScheduleExpressionError):
        parse_expression(expression, zone)


# --- the template's schedules --------------------------------------------------------------------


def test_template_schedules(project):
    names = {s.name: s for s in project.scheduler.template_schedules}
    assert set(names) == {"HourlySweep", "ReportsWeekdays", "ReportsLegacy"}  # Off is DISABLED
    assert names["HourlySweep"].next_due == T0 + timedelta(hours=1)


def test_rate_fires_once_per_period_and_once_after_a_big_jump(project):
    assert project.fired() == []
    assert project.fired(advance=3599) == []
    assert project.fired(advance=1) == [("HourlySweep", "2030-03-30T13:00:00Z")]
    assert project.fired() == []
    assert project.fired(advance=3600) == [("HourlySweep", "2030-03-30T14:00:00Z")]
    assert project.received("Hourly") == [{}, {}]  # ScheduleV2 without Input: {}
    # Ten days later: each schedule fires once (due at its first missed instant), not 240 times.
    fired = project.fired(advance=10 * 86400)
    assert sorted(fired) == [("HourlySweep", "2030-03-30T15:00:00Z"), ("ReportsLegacy", "2030-03-31T12:00:00Z"),
                             ("ReportsWeekdays", "2030-04-01T07:00:00Z")]
    # ... and the cadence goes on from the new time.
    assert project.fired(advance=3599) == []
    assert project.fired(advance=1) == [("HourlySweep", "2030-04-09T15:00:00Z")]


def test_template_events_payloads(project):
    project.fired(set=datetime(2030, 4, 1, 7, 0, tzinfo=UTC))  # Monday 09:00 Amsterdam
    events = project.received("Reports")
    assert {"report": "daily"} in events  # ScheduleV2 Input
    (scheduled,) = [e for e in events if e.get("detail-type") == "Scheduled Event"]  # Schedule: an EventBridge event
    assert scheduled["source"] == "aws.events" and scheduled["detail"] == {}
    assert scheduled["time"] == "2030-03-31T12:00:00Z" and scheduled["resources"][0].endswith(":rule/ReportsLegacy")


def test_a_clock_set_back_reanchors_recurring_schedules(project):
    project.fired(advance=3600)
    earlier = datetime(2029, 1, 1, tzinfo=UTC)
    project.clock.set(earlier)
    project.scheduler.clock_moved()  # what POST /_local/clock does
    assert project.fired(advance=3600) == [("HourlySweep", "2029-01-01T01:00:00Z")]
    # Without being told, a tick that finds the clock earlier does the same.
    assert project.fired(set=earlier) == []
    assert project.fired(advance=3600) == [("HourlySweep", "2029-01-01T01:00:00Z")]


def _messages(queue: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=f"automations-local-{queue}")["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def test_a_failing_target_gets_lambdas_async_retries_then_its_failure_destination(project, caplog):
    """Scheduler invokes asynchronously: the function's EventInvokeConfig decides, not the
    schedule's dead-letter queue (which only takes failures to invoke)."""
    (hourly,) = [s for s in project.scheduler.template_schedules if s.name == "HourlySweep"]
    hourly.function = project.template.functions["Broken"]
    project.clock.advance(3600)
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        (fired,) = project.scheduler.tick()
    assert fired["error"] == "RuntimeError: target exploded" and "target exploded" in caplog.text
    assert project.received("Broken") == [{}, {}]  # the invocation and MaximumRetryAttempts: 1
    (message,) = _messages("Failures")
    record = json.loads(message["Body"])
    assert record["requestPayload"] == {} and record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["functionArn"].endswith(":function:automations-local-Broken:$LATEST")
    assert record["responsePayload"] == {"errorMessage": "target exploded", "errorType": "RuntimeError"}
    assert _messages("DeadLetters") == []


def test_without_an_invoke_config_lambda_retries_twice_and_drops_the_event(project):
    project.create("run-1", "at(2030-03-30T12:30:00)", function="Fragile")
    project.clock.advance(1800)
    (fired,) = project.scheduler.tick()
    assert fired["schedule"] == "run-1" and fired["error"] == "RuntimeError: target exploded"
    assert project.received("Broken") == [{"schedule": "run-1"}] * 3  # Lambda's default: 2 retries
    assert _messages("Failures") == [] and _messages("DeadLetters") == []


# --- schedules created through the Scheduler API -------------------------------------------------


def test_one_time_schedule_fires_at_its_instant_across_dst_then_is_deleted(project):
    # 10:00 on 31 March in Amsterdam is 08:00Z: summer time, though the clock is still in winter.
    project.create("run-1", "at(2030-03-31T10:00:00)", zone="Europe/Amsterdam", ActionAfterCompletion="DELETE")
    assert project.fired("scheduler", set=datetime(2030, 3, 31, 7, 59, 59, tzinfo=UTC)) == []
    project.clock.advance(1)
    (fired,) = [f for f in project.scheduler.tick() if f["source"] == "scheduler"]
    assert fired == {"schedule": "run-1", "group": "default", "source": "scheduler", "function": "Reports",
                     "due_at": "2030-03-31T08:00:00Z", "fired_at": "2030-03-31T08:00:00Z"}
    assert project.received("Reports") == [{"schedule": "run-1"}]  # the target's Input, parsed
    assert not project.exists("run-1")
    assert "run-1" not in dict(project.fired(advance=86400))


def test_one_time_schedule_kept_after_completion_fires_once(project):
    project.create("keep", "at(2030-03-30T12:30:00)")
    assert project.fired(advance=1800) == [("keep", "2030-03-30T12:30:00Z")]
    assert project.exists("keep")
    assert project.fired(advance=60) == []


def test_schedule_created_just_before_a_clock_jump_still_fires(project):
    project.scheduler.tick()  # the scheduler has looked; now the product creates a schedule...
    project.create("weekly", "cron(0 9 ? * MON *)", zone="Europe/Amsterdam", GroupName="default")
    # ... and the clock jumps past its first instant before the scheduler looks again.
    fired = project.fired(set=datetime(2030, 4, 2, tzinfo=UTC))
    assert ("weekly", "2030-04-01T07:00:00Z") in fired


def test_recurring_scheduler_schedule_and_jump(project):
    project.create("every-10", "rate(10 minutes)", function="Worker")
    project.scheduler.tick()
    assert project.fired("scheduler", advance=600) == [("every-10", "2030-03-30T12:10:00Z")]
    assert project.fired("scheduler", advance=6000) == [("every-10", "2030-03-30T12:20:00Z")]  # 10 periods: once
    assert project.fired("scheduler", advance=599) == []  # the cadence goes on: next at 14:00
    assert project.fired("scheduler", advance=1) == [("every-10", "2030-03-30T14:00:00Z")]
    assert project.received("Worker") == [{"schedule": "every-10"}] * 3  # the target's Input each time
    assert project.exists("every-10")


def test_disabled_schedules_never_fire(project):
    project.create("off", "at(2030-03-30T12:30:00)", State="DISABLED")
    assert project.fired(advance=3600 * 5) == [("HourlySweep", "2030-03-30T13:00:00Z")]
    assert project.received("Reports") == []


def test_unusable_schedules_are_logged_once_and_skipped(project, caplog):
    project.create("bad-at", "at(garbage)")
    project.create("bad-cron", "cron(0 9 L * ? *)")
    project.create("bad-zone", "at(2030-03-30T12:10:00)", zone="Nowhere/Land")
    project.api.create_schedule(Name="not-ours", ScheduleExpression="at(2030-03-30T12:10:00)",
                                FlexibleTimeWindow={"Mode": "OFF"},
                                Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:elsewhere",
                                        "RoleArn": "arn:aws:iam::123456789012:role/scheduler"})
    project.create("good", "at(2030-03-30T12:10:00)")
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        assert project.fired(advance=900) == [("good", "2030-03-30T12:10:00Z")]
        assert project.fired(advance=60) == []
    for name in ("bad-at", "bad-cron", "bad-zone", "not-ours"):
        assert caplog.text.count(f"default/{name} is skipped") == 1


def test_background_ticker_fires_and_stops(project):
    project.create("soon", "at(2030-03-30T12:01:00)")
    before = set(threading.enumerate())
    project.scheduler.start()
    project.clock.advance(60)
    deadline = time.monotonic() + 10
    while not project.received("Reports") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert project.received("Reports") == [{"schedule": "soon"}]
    project.scheduler.stop()
    assert set(threading.enumerate()) <= before


# --- control endpoints ---------------------------------------------------------------------------


@pytest.fixture
def runtime(project):
    """What the control endpoints use of a LocalRuntime."""
    queues = QueueDriver(project.template)
    yield SimpleNamespace(template=project.template, clock=project.clock, scheduler=project.scheduler, queues=queues)
    queues.stop()


def call(runtime, method: str, path: str, body: bytes = b""):
    response = ControlApi(control_api.endpoints).dispatch(runtime, HttpRequest(method, path, [], body))
    return response.status, json.loads(response.body)


def test_tick_endpoint_fires_then_drains(runtime, project):
    project.clock.advance(3600)
    status, answer = call(runtime, "POST", "/_local/scheduler/tick")
    assert status == 200
    assert [(f["schedule"], f["function"], f["source"]) for f in answer["fired"]] == [("HourlySweep", "Hourly", "template")]
    assert len(project.records("Worker")) == 3  # the coordinator's tasks were handled before the answer


@pytest.mark.parametrize("shards_done, status", [(3, 200), (1, 500)])
def test_sweep_endpoint_runs_a_whole_cycle(runtime, project, monkeypatch, shards_done, status):
    def summary(_services, sweep_id):  # the tasks must all be done when the summary is read
        assert sweep_id == "sweep_1"
        return {"tickets_evaluated": len(project.records("Worker")), "automations_fired": 2,
                "tickets_updated": 1, "notifications_sent": 1, "firings_failed": 1, "tickets_failed": 0,
                "shards_started": 3, "shards_done": shards_done, "ignored": 0}

    monkeypatch.setattr(bootstrap.Services, "sweep_summary", summary)
    project.clock.advance(3600)  # the hourly schedule is due: the sweep now counts as its run
    answered, answer = call(runtime, "POST", "/_local/sweep", b'{"timeout_s": 30}')
    assert answered == status, answer
    assert answer.pop("duration_ms") >= 0
    # a task that never finished its shard: the sweep did not happen whole, and says so
    assert answer.pop("error", None) == (None if status == 200 else "2 of 3 sweep tasks failed (see the log and the "
                                                                     "sweep dead-letter queue)")
    assert answer == {"sweep_id": "sweep_1", "tickets_evaluated": 3, "automations_fired": 2, "tickets_updated": 1,
                      "notifications_sent": 1, "firings_failed": 1, "tickets_failed": 0, "shards_failed": 3 - shards_done}
    assert project.received("Hourly") == [{}]
    assert "HourlySweep" not in dict(project.fired(advance=3599))
    assert "HourlySweep" in dict(project.fired(advance=1))


@pytest.mark.parametrize("path", ["/_local/scheduler/tick", "/_local/sweep"])
@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"timeout_s": 0}', b'{"timeout_s": "5"}', b'{"timeout_s": true}',
                                  b'{"timeout_s": 99999}', b'{"wait": 1}'])
def test_tick_and_sweep_refuse_bad_input(path, body):
    status, answer = call(SimpleNamespace(), "POST", path, body)  # refused before the runtime is touched
    assert status == 400 and answer["error"]
