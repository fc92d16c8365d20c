"""The hourly sweep's worker (SQS, partial batch failures): sweeps one account shard's tickets,
re-enqueueing the rest before the Lambda runs out of time."""
from automations.bootstrap import services
from automations.domain.sweep import SweepTask
from automations.surfaces.queue_batches import SQSRecord, process_each
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 60_000  # stop paging with a minute left, so the continuation is always enqueued


def _sweep(record: SQSRecord, lambda_context):
    task = SweepTask.from_json(record.body)
    done = services().sweep_worker.process(
        task, has_time=lambda: lambda_context.get_remaining_time_in_millis() > _RESERVE_MS)
    logger.info("sweep task done", extra={"account_id": task.account_id, "shard": task.shard,
                                          "continued": done.rest is not None, **done.done.as_dict()})


@lambda_handler
def handler(event, context):
    return process_each(event, context, _sweep)
