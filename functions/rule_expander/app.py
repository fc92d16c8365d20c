"""Expands a recurring or date-field automation's firing into runs (flow 5). Its messages are
domain/messages.py's ExpandQueueMessage. The firing's one-time schedule invokes it with an
Expansion without a shard ({"account_id", "automation_id", "day"}): the next firing is planned
and each member shard of the list queued on the expand queue ({..., "shard"}), expanded side by
side; pages of a big shard go on through the queue with their cursor, so no invocation runs out
of time. The hourly sweep also queues a HourlyCheck ({"account_id", "hourly_check": true}): put
back any schedule, and make the runs of any recent join, that a failure between two writes lost;
a long catch-up goes on through the queue with its "since" and "cursor". A rule whose send window
changed (or its account's zone) queues a RuleReplan ({"account_id", "automation_id", "shard",
"replan": true}), a contact whose zone changed a ContactReplan: the waiting runs are re-planned a
page at a time, the rest handed on with where it stopped. A body that is none of these fails alone."""
from collections.abc import Callable
from typing import Any

from automations import config
from automations.bootstrap import hand_back, services
from automations.domain.messages import Expansion, ExpandQueueMessage, HourlyCheck, expand_queue_message
from automations.errors import THROTTLED_TASK_WAIT_S
from automations.surfaces.queue_batches import process_in_time
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 30_000  # stop with this much time left, so the continuation is always queued


def _expand(task: ExpandQueueMessage, has_time: Callable[[], bool]) -> None:
    if isinstance(task, HourlyCheck):
        repaired = services().hourly_check.hourly_check(task.account_id, since=task.since, cursor=task.cursor,
                                                        has_time=has_time)
        logger.info("hourly check done", extra={"account_id": task.account_id, **repaired})
    elif isinstance(task, Expansion):
        done = services().rule_firings.continue_expansion(task, has_time=has_time)
        logger.info("rule expanded", extra={"account_id": task.account_id, "automation_id": task.automation_id,
                                            "shard": task.shard, "pages": done.done,
                                            "continued": done.rest is not None})
    else:
        done = services().replanning.replan(task, has_time=has_time)
        logger.info("waiting runs re-planned", extra={"pages": done.done, "continued": done.rest is not None})


def _has_time(context: Any) -> Callable[[], bool]:
    return lambda: context is None or context.get_remaining_time_in_millis() >= _RESERVE_MS


@lambda_handler
def handler(event, context):
    if "Records" in event:
        # a throttled record goes on 30 s later as a new message: an expansion's runs have ids of
        # their own, so doing its page again makes none twice
        return process_in_time(event, context, lambda record: _expand(expand_queue_message(record.body),
                                                                      _has_time(context)),
                               reserve_ms=_RESERVE_MS, hand_back=hand_back(config.expand_queue_url()),
                               throttled_wait_s=THROTTLED_TASK_WAIT_S)
    _expand(expand_queue_message(event), _has_time(context))
    return {"automation_id": event["automation_id"]}
