"""Expands a recurring or date-field automation's firing into runs (flow 5). Invoked by the
firing's one-time schedule with {"account_id", "automation_id", "day"}: the next firing is planned
and each member shard of the list queued on the expand queue ({..., "shard"}), expanded side by
side; pages of a big shard go on through the queue with their cursor, so no invocation runs out
of time. The hourly sweep
also queues {"account_id", "hourly_check": true}: put back any schedule, and make the runs of
any recent join, that a failure between two writes lost; a long catch-up goes on through the
queue with its "since" and "cursor". A rule whose send window changed (or its account's zone)
queues {"account_id", "automation_id", "replan": true}: its waiting runs are re-planned a page at
a time, the rest handed on with where it stopped."""
import json
from datetime import date

from automations.bootstrap import services
from automations.service.replanning import REPLAN
from automations.surfaces.queue_batches import SQSRecord, process_each
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 30_000  # stop with this much time left, so the continuation is always queued


def _expand(task: dict, context) -> None:
    engine = services().rule_firings
    if task.get("hourly_check"):
        repaired = services().hourly_check.hourly_check(
            str(task["account_id"]), since=task.get("since"), cursor=task.get("cursor"),
            has_time=lambda: context is None or context.get_remaining_time_in_millis() >= _RESERVE_MS)
        logger.info("hourly check done", extra={"account_id": task["account_id"], **repaired})
        return
    if task.get(REPLAN):
        _replan(task, context)
        return
    day = date.fromisoformat(task["day"])
    shard = None if task.get("shard") is None else int(task["shard"])
    cursor, pages = task.get("cursor") if shard is not None else None, 0  # without a shard: the firing, anew
    while True:
        cursor = engine.expand(str(task["account_id"]), int(task["automation_id"]), day=day, shard=shard,
                               cursor=cursor)
        pages += 1
        if cursor is None:
            break
        if context is None or context.get_remaining_time_in_millis() < _RESERVE_MS:
            engine.continue_expansion({"account_id": task["account_id"], "automation_id": task["automation_id"],
                                       "day": task["day"], "shard": shard, "cursor": cursor})
            break
    logger.info("rule expanded", extra={"account_id": task["account_id"], "automation_id": task["automation_id"],
                                        "shard": shard, "pages": pages, "continued": cursor is not None})


def _replan(task: dict, context) -> None:
    replanning, pages = services().replanning, 0
    while task is not None:
        task = replanning.replan_page(task)
        pages += 1
        if task is not None and (context is None or context.get_remaining_time_in_millis() < _RESERVE_MS):
            replanning.continue_later(task)
            break
    logger.info("waiting runs re-planned", extra={"pages": pages, "continued": task is not None})


def _record(record: SQSRecord, lambda_context) -> None:
    _expand(json.loads(record.body), lambda_context)


@lambda_handler
def handler(event, context):
    if "Records" in event:
        return process_each(event, context, _record)
    _expand(event, context)
    return {"automation_id": event["automation_id"]}
