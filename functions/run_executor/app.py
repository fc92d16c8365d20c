"""The run executor (flow 3). Invoked by a run's one-time schedule with a RunReference
({"account_id", "run_id"}), and by the run queue (runs due now, retries after a backoff,
re-drives) with the same bodies. Executing is idempotent: a second delivery of either finds the
run claimed or done. A time bucket's schedule (or its rest on the queue) brings a BucketDispatch
({"due_minute", "shard"}): the bucket's runs are queued (service/time_buckets.py); the rest of an
hourly re-drive brings a RedrivePass ({"redrive_before", "after"}), and the runs it queues carry
"redriven" (domain/messages.py). A body that is none of these fails alone."""
from collections.abc import Callable
from typing import Any

from automations import config
from automations.bootstrap import hand_back, services
from automations.domain.messages import BucketDispatch, RedrivePass, RunQueueMessage, run_queue_message
from automations.surfaces.queue_batches import SQSRecord, process_in_time
from automations.telemetry import lambda_handler, logger

# A queued run is started only with this much time left: its webhook may wait 3 x 5 s plus backoff
# (about 16.5 s); the batch's unstarted runs go back to the queue. Each send of a run is started
# only if its longest fits before the end, with _FINISH_MS to spare: a run with more webhooks than
# the time left allows goes on in another invocation (its sends so far stay sent).
_RUN_RESERVE_MS = 20_000
_FINISH_MS = 3_000  # after its last send: the run's outcome and its announcement written
_DISPATCH_RESERVE_MS = 15_000  # a dispatcher (a bucket's, the re-drive's) hands the rest on with this much time left


def _execute(message: RunQueueMessage, context: Any) -> None:
    if isinstance(message, RedrivePass):
        done = services().run_executor.redrive(message, has_time=_has_time(context))
        logger.info("re-drive continued", extra={"queued": done.done, "continued": done.rest is not None})
    elif isinstance(message, BucketDispatch):
        done = services().time_buckets.dispatch(message, has_time=_has_time(context))
        logger.info("time bucket dispatched", extra={**message.to_dict(), "queued": done.done,
                                                     "continued": done.rest is not None})
    else:
        run = services().run_executor.execute(message.account_id, message.run_id, redriven=message.redriven,
                                            has_time=lambda seconds: context.get_remaining_time_in_millis()
                                            > seconds * 1000 + _FINISH_MS)
        logger.info("run executed", extra={"account_id": message.account_id, "run_id": message.run_id,
                                           "status": run.status.value if run else "taken"})


def _has_time(context: Any) -> Callable[[], bool]:
    """Whether a dispatcher has time for another page, in this invocation."""
    return lambda: context.get_remaining_time_in_millis() > _DISPATCH_RESERVE_MS


@lambda_handler
def handler(event, context):
    if "Records" in event:
        def record(record: SQSRecord) -> None:
            _execute(run_queue_message(record.body), context)

        with services().run_reads.batch():  # the batch's runs read each automation and template once
            return process_in_time(event, context, record, reserve_ms=_RUN_RESERVE_MS,
                                   hand_back=hand_back(config.run_queue_url()))
    # A schedule's input, invoked asynchronously: raising gets Lambda's retries (EventInvokeConfig),
    # then the failure queue; the run waits in the DueIndex for the hourly re-drive.
    _execute(run_queue_message(event), context)
    return {"run_id": event.get("run_id")}
