"""The hourly sweep's coordinator (EventBridge Scheduler, rate(1 hour)): one task per account
and shard onto the sweep queue; it also relays the outbox (deliveries left unsent) and re-drives
runs still waiting past their time (a lost schedule, a crashed executor) and has each account's
hourly check queued (schedules and join runs a failure between two writes lost)."""
from automations.bootstrap import deliveries, services, sweep_coordinator
from automations.telemetry import lambda_handler, logger


@lambda_handler
def handler(event, context):
    sweep_id, tasks = sweep_coordinator().start()
    relayed = deliveries().relay()  # what a crash or a transient failure left unsent
    redriven = services().run_engine.redrive()
    services().run_engine.hourly_check_later(sorted({task.account_id for task in tasks}))
    logger.info("sweep started", extra={"sweep_id": sweep_id, "tasks": len(tasks), "relayed": relayed,
                                        "redriven": redriven})
    return {"sweep_id": sweep_id, "tasks": len(tasks), "redriven": redriven}
