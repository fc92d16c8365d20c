"""The bulk ticket job worker (SQS, partial batch failures): does a job's items, hands the rest on
through the queue before the Lambda runs out of time, and fails only the message it could not do
(a body that is not a TicketJob, domain/messages.py, among them)."""
from automations.bootstrap import services
from automations.domain.messages import TicketJob
from automations.surfaces.queue_batches import SQSRecord, process_each
from automations.telemetry import lambda_handler, logger

_RESERVE_MS = 30_000  # stop with half a minute left, so the hand-off is always sent
MAX_RECEIVES = 5  # the queue's maxReceiveCount: the last delivery records what it cannot do


def _work(record: SQSRecord, lambda_context):
    task = TicketJob.from_json(record.body)
    done = services().bulk_jobs.work(
        task.account_id, task.job_id, last_attempt=int(record.attributes.approximate_receive_count) >= MAX_RECEIVES,
        has_time=lambda: lambda_context.get_remaining_time_in_millis() > _RESERVE_MS)
    logger.info("ticket job worked", extra={"account_id": task.account_id, "job_id": task.job_id, "status": done.done,
                                            "continued": done.rest is not None})


@lambda_handler
def handler(event, context):
    return process_each(event, context, _work)
