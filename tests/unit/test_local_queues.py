"""SQS event sources driven locally as Lambda drives them: the event, deletes, partial batch
failures, retries, redrive to the dead-letter queue, handler exceptions, bounded drains and the
background poller; against a throwaway template and handlers, over moto's mock_aws."""
from __future__ import annotations

import json
import logging
import threading
import time

import boto3
import pytest
from throwaway_project import write_project

from automations_local import LOGGER_NAME
from automations_local.queues import QueueDriver, failed_items
from automations_local.resources import create_resources
from automations_local.template import load_template

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
  Tasks:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 3}
  Jobs:
    Type: AWS::SQS::Queue
  TaskWorker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tasks/
      Handler: app.handler
      Events:
        Tasks:
          Type: SQS
          Properties: {Queue: !GetAtt Tasks.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures]}
  JobWorker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/jobs/
      Handler: app.handler
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 10}}
"""

# Each handler logs the events it gets to the file named by $RECEIVED, then acts on the bodies:
# "fail-once" / "fail" are reported as failed items (first delivery only / always), a batch
# with "boom-once" / "boom" raises, and "slow" takes half a second.
_RECORD = """
    import json, os, time

    def record(event):
        with open(os.environ["RECEIVED"], "a") as log:
            log.write(json.dumps(event) + "\\n")
"""
HANDLERS = {
    "tasks": _RECORD + """
    def handler(event, context):
        record(event)
        failed = [r["messageId"] for r in event["Records"]
                  if r["body"] == "fail" or (r["body"] == "fail-once" and r["attributes"]["ApproximateReceiveCount"] == "1")]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
    """,
    "jobs": _RECORD + """
    def handler(event, context):
        record(event)
        for r in event["Records"]:
            if r["body"] == "slow":
                time.sleep(0.5)
            if r["body"] == "boom" or (r["body"] == "boom-once" and r["attributes"]["ApproximateReceiveCount"] == "1"):
                raise RuntimeError("job exploded")
    """,
}


@pytest.fixture
def project(tmp_path, monkeypatch, empty_aws):
    """The throwaway template's queues in mock_aws, and a driver for them (not started)."""
    monkeypatch.setenv("RECEIVED", str(tmp_path / "received.jsonl"))
    template = load_template(write_project(tmp_path, TEMPLATE, HANDLERS))
    create_resources(template)
    driver = QueueDriver(template, poll_interval_s=0.05)
    try:
        yield Project(template, driver, tmp_path / "received.jsonl")
    finally:
        driver.stop()


class Project:
    def __init__(self, template, driver, received):
        self.template, self.driver, self._received = template, driver, received
        self.sqs = boto3.client("sqs", region_name=template.region)

    def url(self, queue: str) -> str:
        return self.sqs.get_queue_url(QueueName=self.template.physical_name(queue))["QueueUrl"]

    def send(self, queue: str, *bodies: str, **extra) -> list[str]:
        return [self.sqs.send_message(QueueUrl=self.url(queue), MessageBody=body, **extra)["MessageId"]
                for body in bodies]

    def events(self) -> list[dict]:
        if not self._received.exists():
            return []
        return [json.loads(line) for line in self._received.read_text().splitlines()]

    def deliveries(self) -> dict[str, int]:
        """How many times each body reached a function."""
        counts: dict[str, int] = {}
        for event in self.events():
            for record in event["Records"]:
                counts[record["body"]] = counts.get(record["body"], 0) + 1
        return counts

    def bodies(self, queue: str) -> list[str]:
        messages = self.sqs.receive_message(QueueUrl=self.url(queue), MaxNumberOfMessages=10).get("Messages", [])
        return sorted(m["Body"] for m in messages)


def test_sources_come_from_the_template(project):
    sources = {s.function.logical_id: s for s in project.driver.sources}
    assert set(sources) == {"TaskWorker", "JobWorker"}
    assert (sources["TaskWorker"].batch_size, sources["TaskWorker"].reports_item_failures) == (5, True)
    assert (sources["JobWorker"].batch_size, sources["JobWorker"].reports_item_failures) == (10, False)
    assert sources["TaskWorker"].queue_arn == project.template.arn("Tasks")


def test_the_event_is_lambdas_sqs_event(project):
    (message_id,) = project.send("Jobs", '{"n": 1}', MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "job"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}})
    assert project.driver.poll() == 1
    (event,) = project.events()
    (record,) = event["Records"]
    assert record["messageId"] == message_id and record["body"] == '{"n": 1}' and record["receiptHandle"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == project.template.arn("Jobs")
    assert record["awsRegion"] == "us-east-1"
    assert len(record["md5OfBody"]) == 32
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(attributes)
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "job", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AP8=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    assert project.driver.backlog() == {project.template.physical_name("Tasks"): 0,
                                        project.template.physical_name("Jobs"): 0}  # deleted


def test_batches_are_at_most_batch_size(project):
    project.send("Tasks", *[f"t{i}" for i in range(7)])
    assert project.driver.poll() == 5
    assert project.driver.drain(5).drained
    assert [len(e["Records"]) for e in project.events()] == [5, 2]


def test_partial_batch_failure_retries_only_the_failed_message(project):
    project.send("Tasks", "ok-1", "fail-once", "ok-2")
    report = project.driver.drain(10)
    assert report.drained and report.messages == 4
    assert project.deliveries() == {"ok-1": 1, "fail-once": 2, "ok-2": 1}
    assert project.bodies("DeadLetters") == []


def test_redrive_to_the_dead_letter_queue_after_max_receive_count(project):
    project.send("Tasks", "ok", "fail")
    assert project.driver.drain(10).drained
    assert project.deliveries() == {"ok": 1, "fail": 3}  # maxReceiveCount: 3
    assert project.bodies("DeadLetters") == ["fail"]


def test_handler_exception_retries_the_whole_batch_and_is_logged(project, caplog):
    project.send("Jobs", "fine", "boom-once")
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        assert project.driver.drain(10).drained
    assert project.deliveries() == {"fine": 2, "boom-once": 2}  # nothing deleted after the failure
    assert "JobWorker failed" in caplog.text and "job exploded" in caplog.text  # with its traceback


def test_drain_is_bounded(project):
    project.send("Jobs", "boom")  # always fails, and Jobs has no dead-letter queue
    started = time.monotonic()
    report = project.driver.drain(0.5)
    assert time.monotonic() - started < 5
    assert not report.drained and report.backlog == {project.template.physical_name("Jobs"): 1}
    assert report.messages >= 2


def test_a_drain_waits_for_a_batch_in_flight_elsewhere_without_counting_the_queues(project, monkeypatch):
    # Counting a queue's messages is a pass over all of them in moto: with thousands queued, a
    # drain that counted every 20 ms while the poller worked took most of the process's time.
    counted = []
    backlog = project.driver.backlog
    monkeypatch.setattr(project.driver, "backlog", lambda: counted.append(1) or backlog())
    project.driver.start()
    project.send("Jobs", "slow")
    deadline = time.monotonic() + 10
    while "slow" not in project.deliveries() and time.monotonic() < deadline:
        time.sleep(0.01)
    report = project.driver.drain(10)  # the poller holds the batch for half a second
    assert report.drained and project.deliveries() == {"slow": 1}
    assert len(counted) <= 2, len(counted)


def test_background_poller_drives_queues_and_stops(project):
    before = set(threading.enumerate())
    project.driver.start()
    project.send("Tasks", "async")
    deadline = time.monotonic() + 10
    while "async" not in project.deliveries() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert project.deliveries() == {"async": 1}
    project.driver.stop()
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("result, failed", [
    (None, set()),
    ({}, set()),
    ({"batchItemFailures": []}, set()),
    ({"batchItemFailures": None}, set()),
    ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
    # AWS fails the whole batch on a malformed answer:
    ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
    ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
    ({"batchItemFailures": [{"id": "a"}]}, {"a", "b"}),
    ({"batchItemFailures": "a"}, {"a", "b"}),
    ("not an object", {"a", "b"}),
])
def test_failed_items_reads_responses_as_lambda_does(result, failed):
    assert failed_items(result, ["a", "b"]) == failed
