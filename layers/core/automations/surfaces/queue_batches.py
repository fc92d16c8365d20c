"""SQS batches as Lambda hands them over (Powertools' partial batch responses), bounded in time.
The queue handlers take Powertools' batch names from here, after ``automations.surfaces`` set up
its data classes package to load only the event classes used (SQS's, not all 32 modules).

A record is started only while enough of the invocation is left for it to finish (the first one
always is, so every invocation makes progress); the rest are handed back unstarted, as new
messages (a message made visible again would count this receive toward the queue's
maxReceiveCount: handed back five times, it would reach the dead-letter queue never started).
Nothing is redone (a record started is finished, or fails alone) and nothing is lost (a record
handed back is untouched; if it cannot be sent again, it is a batch item failure, visible again
at once). A consumer may hand a throttled record back the same way, a while later."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from automations import telemetry
from automations.errors import is_throttle

_log = logging.getLogger(__name__)


__all__ = ["SQSRecord", "process_each", "process_in_time"]


def process_each(event: dict, context: Any, record_handler: Callable[[SQSRecord, Any], None]) -> dict:
    """``record_handler(record, context)`` for each record of the batch, each failing alone; the
    partial batch response."""
    return process_partial_response(event=event, record_handler=record_handler, processor=BatchProcessor(EventType.SQS),
                                    context=context)


def process_in_time(event: dict, context: Any, record_handler: Callable[[SQSRecord], None], *,
                    reserve_ms: int, hand_back: Callable[[list[tuple[str, str]], int], bool],
                    throttled_wait_s: int | None = None) -> dict:
    """``record_handler`` for each record of the batch while more than ``reserve_ms`` (the longest
    one record may take) are left; the partial batch response. ``hand_back(records, delay_s)``
    sends the (body, receipt handle) of the records left unstarted again, and, with
    ``throttled_wait_s``, those a throttle stopped that much later (a record's work is idempotent,
    so doing it again is safe); it says whether they went."""
    started, unstarted, throttled = 0, [], []

    def in_time(record: SQSRecord) -> None:
        nonlocal started
        if started and context.get_remaining_time_in_millis() <= reserve_ms:
            _log.info("queue record %s handed back unstarted: too little time left", record.message_id)
            unstarted.append(record)
            return
        started += 1
        try:
            record_handler(record)
        except Exception as error:
            if throttled_wait_s is None or not is_throttle(error):
                raise
            _log.info("queue record %s throttled, handed back for %d s: %s", record.message_id, throttled_wait_s, error)
            throttled.append(record)

    answer = process_partial_response(event=event, record_handler=in_time, processor=BatchProcessor(EventType.SQS),
                                      context=context)
    for records, delay_s in ((unstarted, 0), (throttled, throttled_wait_s or 0)):
        if records:
            telemetry.count("RecordsHandedBack", len(records), function=context.function_name)
            if not hand_back([(r.body, r.receipt_handle) for r in records], delay_s):
                answer["batchItemFailures"] += [{"itemIdentifier": r.message_id} for r in records]
    return answer
