"""The ingestion function (SQS, partial batch failures): every event, from /v1/events, the
product's bus or the product's own contact changes and list joins, goes to the run engine from here.
A message is started only with time enough left for it; the rest go back to the queue unstarted."""
import json


from automations import config
from automations.bootstrap import hand_back, services
from automations.domain.events import JOINS
from automations.errors import THROTTLED_TASK_WAIT_S
from automations.service.ingestion import dropped
from automations.surfaces.queue_batches import SQSRecord, process_in_time
from automations.surfaces.queue_events import after_from_message, event_from_message, joins_from_message
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 15_000  # a message's longest: 100 runs (RUNS_PER_MESSAGE), each a put and its own schedule, about 4 s


def _ingest(record: SQSRecord) -> None:
    try:
        message = json.loads(record.body)
    except ValueError:
        logger.error("ingestion queue message is not JSON", extra={"message_id": record.message_id})
        dropped("malformed", message_id=record.message_id)
        return
    if isinstance(message, dict) and JOINS in message:
        joins = joins_from_message(message)
        runs = services().event_ingestion.deliver_joins(joins, after_from_message(message))
        logger.info("joins ingested", extra={"joins": len(joins), "runs": len(runs)})
        return
    event = event_from_message(message)
    if event is None:
        dropped("not_an_event", message_id=record.message_id)
    else:
        runs = services().event_ingestion.deliver(event, after_from_message(message))
        logger.info("event ingested", extra={"account_id": event.account_id, "event_id": event.id,
                                              "event": event.name, "runs": len(runs)})


@lambda_handler
def handler(event, context):
    return process_in_time(event, context, _ingest, reserve_ms=_RESERVE_MS,
                           hand_back=hand_back(config.events_queue_url()), throttled_wait_s=THROTTLED_TASK_WAIT_S)
