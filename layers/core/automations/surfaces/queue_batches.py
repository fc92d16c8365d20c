"""SQS batches as Lambda hands them over (Powertools' partial batch responses), bounded in time.
The queue handlers take Powertools' batch names from here, after ``automations.surfaces`` set up
its data classes package to load only the event classes used (SQS's, not all 32 modules).

A record is started only while enough of the invocation is left for it to finish (the first one
always is, so every invocation makes progress); the rest are reported as batch item failures,
unstarted, and made visible again at once, for another invocation. Nothing is redone (a record
started is finished, or fails alone) and nothing is lost (a record handed back is untouched)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from automations import telemetry

_log = logging.getLogger(__name__)


__all__ = ["NotStarted", "SQSRecord", "process_each", "process_in_time"]


class NotStarted(Exception):
    """Too little of the invocation is left to start this record: it goes back to SQS."""


def process_each(event: dict, context: Any, record_handler: Callable[[SQSRecord, Any], None]) -> dict:
    """``record_handler(record, context)`` for each record of the batch, each failing alone; the
    partial batch response."""
    return process_partial_response(event=event, record_handler=record_handler, processor=BatchProcessor(EventType.SQS),
                                    context=context)


def process_in_time(event: dict, context: Any, record_handler: Callable[[SQSRecord], None], *,
                    reserve_ms: int, hand_back: Callable[[list[str]], None]) -> dict:
    """``record_handler`` for each record of the batch while more than ``reserve_ms`` (the longest
    one record may take) are left; the partial batch response. ``hand_back`` gets the receipt
    handles of the records left unstarted."""
    started, unstarted = 0, []

    def in_time(record: SQSRecord) -> None:
        nonlocal started
        if started and context.get_remaining_time_in_millis() <= reserve_ms:
            _log.info("queue record %s handed back unstarted: too little time left", record.message_id)
            unstarted.append(record.receipt_handle)
            raise NotStarted(record.message_id)
        started += 1
        record_handler(record)

    answer = process_partial_response(event=event, record_handler=in_time, processor=BatchProcessor(EventType.SQS),
                                      context=context)
    if unstarted:
        telemetry.count("RecordsHandedBack", len(unstarted), function=context.function_name)
        hand_back(unstarted)
    return answer
