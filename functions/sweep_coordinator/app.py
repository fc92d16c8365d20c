"""The hourly coordinator. Two schedules start it (EventBridge Scheduler): each hour the sweep
(a first fan-out step on the fan-out queue), and at half past, the upkeep ({"duties": "upkeep"});
{"duties": "migrate"} runs only the data migrations (the deploy's step, docs/deploying.md). What
each does is service/hourly.py's HourlyDuties. The fan-out queue (SQS, partial batch failures)
brings the steps back here: each pages over the accounts, one task per account and shard onto the
sweep queue (or the account's hourly check to the expander), and hands the rest on before time
runs short."""
from automations.bootstrap import services
from automations.domain.sweep import FanOut
from automations.service.hourly import SWEEP_DUTIES
from automations.surfaces.queue_batches import SQSRecord, process_each
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 20_000  # stop paging with this much time left (a page takes a few seconds), then hand on


def _fan_out(record: SQSRecord, lambda_context) -> None:
    step = FanOut.from_json(record.body)
    done = services().sweep_coordinator.fan_out(
        step, has_time=lambda: lambda_context.get_remaining_time_in_millis() > _RESERVE_MS)
    logger.info("fan-out step done", extra={"sweep_id": step.sweep_id, "purpose": step.purpose, "tasks": len(done.done),
                                            "continued": done.rest is not None})


@lambda_handler
def handler(event, context):
    if "Records" in event:
        return process_each(event, context, _fan_out)
    # Lambda retries a failed invocation with its request id: a retry starts no second pass.
    return services().hourly_duties.run(event.get("duties", SWEEP_DUTIES), context.aws_request_id,
                                        has_time=lambda: context.get_remaining_time_in_millis() > _RESERVE_MS)
