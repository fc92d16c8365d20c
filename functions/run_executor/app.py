"""The run executor (flow 3). Invoked by a run's one-time schedule with {"account_id", "run_id"},
and by the run queue (runs due now, retries after a backoff, re-drives) with the same bodies.
Executing is idempotent: a second delivery of either finds the run claimed or done. A time
bucket's schedule (or its continuation on the queue) brings {"due_minute", "shard"}: the
bucket's runs are queued (service/time_buckets.py); the rest of an hourly re-drive brings
{"redrive_before", "after"}, and the runs it queues carry "redriven"."""
import json


from automations import config
from automations.bootstrap import hand_back, services
from automations.surfaces.queue_batches import SQSRecord, process_in_time
from automations.telemetry import lambda_handler, logger

# A queued run is started only with this much time left: its webhook may wait 3 x 5 s plus backoff
# (about 16.5 s); the batch's unstarted runs go back to the queue. Each send of a run is started
# only if its longest fits before the end, with _FINISH_MS to spare: a run with more webhooks than
# the time left allows goes on in another invocation (its sends so far stay sent).
_RUN_RESERVE_MS = 20_000
_FINISH_MS = 3_000  # after its last send: the run's outcome and its announcement written
_DISPATCH_RESERVE_MS = 15_000  # a dispatcher (a bucket's, the re-drive's) hands the rest on with this much time left
_context = None  # the invocation's, for the dispatcher's remaining time


def _has_time() -> bool:
    return _context.get_remaining_time_in_millis() > _DISPATCH_RESERVE_MS


def _time_for(seconds: float) -> bool:
    return _context.get_remaining_time_in_millis() > seconds * 1000 + _FINISH_MS


def _execute(reference: dict) -> None:
    if "redrive_before" in reference:
        queued = services().run_executor.redrive(reference, has_time=_has_time)
        logger.info("re-drive continued", extra={"queued": queued})
        return
    if "due_minute" in reference:
        queued = services().time_buckets.dispatch(reference, has_time=_has_time)
        logger.info("time bucket dispatched", extra={**reference, "queued": queued})
        return
    run = services().run_executor.execute(str(reference["account_id"]), str(reference["run_id"]),
                                        redriven=reference.get("redriven") is True, has_time=_time_for)
    logger.info("run executed", extra={"account_id": reference["account_id"], "run_id": reference["run_id"],
                                       "status": run.status.value if run else "taken"})


def _record(record: SQSRecord) -> None:
    _execute(json.loads(record.body))


@lambda_handler
def handler(event, context):
    global _context
    _context = context
    if "Records" in event:
        with services().run_reads.batch():  # the batch's runs read each automation and template once
            return process_in_time(event, context, _record, reserve_ms=_RUN_RESERVE_MS,
                                   hand_back=hand_back(config.run_queue_url()))
    # A schedule's input, invoked asynchronously: raising gets Lambda's retries (EventInvokeConfig),
    # then the failure queue; the run waits in the DueIndex for the hourly re-drive.
    _execute(event)
    return {"run_id": event.get("run_id")}
