"""The hourly sweep's coordinator (EventBridge Scheduler, rate(1 hour)): one task per account
and shard onto the sweep queue; it also relays the outbox (deliveries left unsent)."""
from automations.bootstrap import deliveries, sweep_coordinator
from automations.surfaces.http import logger


@logger.inject_lambda_context
def handler(event, context):
    sweep_id, tasks = sweep_coordinator().start()
    relayed = deliveries().relay()  # what a crash or a transient failure left unsent
    logger.info("sweep started", extra={"sweep_id": sweep_id, "tasks": len(tasks), "relayed": relayed})
    return {"sweep_id": sweep_id, "tasks": len(tasks)}
