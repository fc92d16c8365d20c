"""SQS event sources, driven as Lambda's poller drives them: receive a batch, invoke the function
with a genuine SQS event, delete what succeeded. What failed is made visible again at once (AWS
would wait out the visibility timeout, often many minutes), so a retry and, after the queue's
maxReceiveCount, moto's redrive to the dead-letter queue happen within seconds."""
from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3

from automations_local import LOGGER_NAME
from automations_local.background import BackgroundLoop
from automations_local.lambdas import invoke
from automations_local.template import Function, Template

log = logging.getLogger(LOGGER_NAME)

POLL_INTERVAL_S = 0.2  # how long the background poller rests when every queue came back empty
MAX_RECEIVE = 10  # SQS's limit per ReceiveMessage
# A delayed message is not due yet (as a schedule not due yet): a drain does not wait for it.
_BACKLOG_ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


@dataclass(frozen=True)
class SqsEventSource:
    """One `Type: SQS` event of a template function."""

    function: Function
    queue_arn: str
    batch_size: int
    reports_item_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[1]

    @classmethod
    def from_template(cls, template: Template) -> list[SqsEventSource]:
        sources = []
        for event in template.events("SQS"):
            properties = event.properties
            if properties.get("Enabled") is False:
                continue
            if properties.get("FilterCriteria"):
                log.warning("%s.%s: FilterCriteria is not applied locally; every message reaches the function",
                            event.function_id, event.name)
            sources.append(cls(template.functions[event.function_id], properties["Queue"],
                               int(properties.get("BatchSize", 10)),
                               "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or ())))
        return sources


@dataclass
class DrainReport:
    drained: bool  # every driven queue was empty before the deadline
    messages: int  # messages handed to functions (each delivery of a retried message counts)
    seconds: float
    backlog: dict[str, int] = field(default_factory=dict)  # queue name -> messages left, when not drained


# --- the Lambda SQS event ------------------------------------------------------------------------


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One record of the event Lambda builds from a received message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes") or {},
        "messageAttributes": {name: _lambda_attribute(value)
                              for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _lambda_attribute(value: dict) -> dict:
    """SQS's {"StringValue", "DataType"} as Lambda spells it: camelCase, binary as base64."""
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def failed_items(result: Any, message_ids: list[str]) -> set[str]:
    """The messages Lambda retries after a ReportBatchItemFailures response. An empty or absent
    list means all succeeded; a malformed response, or an unknown or empty itemIdentifier, fails
    the whole batch (AWS's documented reading)."""
    everything = set(message_ids)
    if result is None:
        return set()
    if not isinstance(result, dict):
        return everything
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


# --- the driver ----------------------------------------------------------------------------------


class QueueDriver:
    """Drives every SQS event source of the template: in the background while started, and on
    demand with ``poll()`` (one batch per source) or ``drain()`` (until the queues are empty)."""

    def __init__(self, template: Template, *, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.template = template
        self.sources = SqsEventSource.from_template(template)
        self._sqs = boto3.session.Session(region_name=template.region).client("sqs")
        self._urls = {s.queue_arn: self._sqs.get_queue_url(QueueName=s.queue_name)["QueueUrl"]
                      for s in self.sources}
        # One poller per source at a time, as a drain and the background thread may both poll;
        # a busy source is skipped, its messages are in flight and the drain waits for them.
        self._busy = {s.queue_arn: threading.Lock() for s in self.sources}
        self._loop = BackgroundLoop("automations-local-sqs", lambda: self.poll() > 0, poll_interval_s,
                                    "polling the SQS event sources")

    # --- polling ---------------------------------------------------------------------------

    def poll(self) -> int:
        """Receive and handle one batch per source; the number of messages handled."""
        return self._poll()[0]

    def _poll(self) -> tuple[int, bool]:
        """The messages handled, and whether a source was skipped as busy elsewhere."""
        handled, skipped = 0, False
        for source in self.sources:
            lock = self._busy[source.queue_arn]
            if lock.acquire(blocking=False):
                try:
                    handled += self._handle_batch(source)
                finally:
                    lock.release()
            else:
                skipped = True
        return handled, skipped

    def _handle_batch(self, source: SqsEventSource) -> int:
        url = self._urls[source.queue_arn]
        messages = self._sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(source.batch_size, MAX_RECEIVE), WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        ids = [message["MessageId"] for message in messages]
        event = {"Records": [sqs_record(m, source.queue_arn, self.template.region) for m in messages]}
        try:
            result = invoke(source.function, event, region=self.template.region)
        except Exception:
            log.exception("%s failed on %d message(s) from %s; they will be retried",
                          source.function.logical_id, len(messages), source.queue_name)
            failed = set(ids)
        else:
            failed = failed_items(result, ids) if source.reports_item_failures else set()
            if failed:
                log.warning("%s reported %d of %d message(s) from %s as failed",
                            source.function.logical_id, len(failed), len(ids), source.queue_name)
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self._sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        if retry:
            self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(retry)])
        return len(messages)

    def backlog(self) -> dict[str, int]:
        """Messages visible or in flight, per driven queue."""
        counts = {}
        for source in self.sources:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._urls[source.queue_arn], AttributeNames=list(_BACKLOG_ATTRIBUTES))["Attributes"]
            counts[source.queue_name] = sum(int(attributes.get(name, 0)) for name in _BACKLOG_ATTRIBUTES)
        return counts

    def drain(self, timeout_s: float = 60.0) -> DrainReport:
        """Handle messages until every driven queue is empty (retries and redrives included), or
        until the deadline; the report says which."""
        started = time.monotonic()
        deadline = started + timeout_s
        handled = 0
        while True:
            batch, skipped = self._poll()
            handled += batch
            # A source busy elsewhere is not empty; counting a queue's messages costs moto a pass
            # over all of them, so that is asked only when every source was polled and empty.
            backlog = {} if batch or skipped else {name: n for name, n in self.backlog().items() if n}
            if not batch and not skipped and not backlog:
                return DrainReport(True, handled, time.monotonic() - started)
            if time.monotonic() >= deadline:
                backlog = backlog or {name: n for name, n in self.backlog().items() if n}
                log.warning("queues not drained within %ss: %s", timeout_s, backlog)
                return DrainReport(not backlog, handled, time.monotonic() - started, backlog)
            if not batch:
                time.sleep(0.02)  # in flight elsewhere: give it a moment

    # --- background ------------------------------------------------------------------------

    def start(self, *, paused: Callable[[], bool] | None = None) -> QueueDriver:
        """Poll in the background; ``paused()`` true skips a round."""
        if self.sources:
            self._loop.start(paused)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._loop.stop(timeout_s)
