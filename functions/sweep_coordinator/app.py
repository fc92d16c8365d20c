"""The hourly coordinator. Two schedules start it (EventBridge Scheduler): each hour the sweep
(a first fan-out step on the fan-out queue), and at half past, the upkeep ({"duties": "upkeep"}):
the accounts' hourly checks (a fan-out step of their own), the outbox relay (deliveries left
unsent) and the re-drive of runs still waiting past their time (a lost schedule, a crashed
executor), each apart from the others (service/hourly.py), and the data migrations still pending
for the time left (service/migrations.py). {"duties": "migrate"} runs only the migrations: the
deploy's step (README, Deploying). Any duty failing fails the invocation once all had their turn. The fan-out queue (SQS, partial batch failures) brings the steps back
here: each pages over the accounts, one task per account and shard onto the sweep queue (or the
account's hourly check to the expander), and hands the rest on before time runs short."""
from automations.bootstrap import services
from automations.service.hourly import perform
from automations.service.sweep import HOURLY_CHECK, SWEEP, FanOut
from automations.surfaces.queue_batches import SQSRecord, process_each
from automations.telemetry import lambda_handler, logger

UPKEEP = "upkeep"  # the "duties" of the half-past schedule's input (template.yaml)
MIGRATE = "migrate"  # the deploy's step
_RESERVE_MS = 20_000  # stop paging with this much time left (a page takes a few seconds), then hand on


def _fan_out(record: SQSRecord, lambda_context) -> None:
    step = FanOut.from_json(record.body)
    tasks, rest = services().sweep_coordinator.fan_out(
        step, has_time=lambda: lambda_context.get_remaining_time_in_millis() > _RESERVE_MS)
    logger.info("fan-out step done", extra={"sweep_id": step.sweep_id, "purpose": step.purpose, "tasks": len(tasks),
                                            "continued": rest is not None})


@lambda_handler
def handler(event, context):
    if "Records" in event:
        return process_each(event, context, _fan_out)
    # Lambda retries a failed invocation with its request id: a retry starts no second pass.
    invocation = context.aws_request_id
    duties = event.get("duties", SWEEP)  # the sweep's schedule sends no input
    if duties not in (SWEEP, UPKEEP, MIGRATE):  # a mistyped schedule input fails, visibly, instead of sweeping
        raise ValueError(f"unknown duties {duties!r}: {SWEEP!r}, {UPKEEP!r} or {MIGRATE!r}")
    has_time = lambda: context.get_remaining_time_in_millis() > _RESERVE_MS  # noqa: E731
    if duties == MIGRATE:
        migrated = services().migrations.run(has_time=has_time)
        logger.info("migrations run", extra=migrated)
        return migrated
    if duties == UPKEEP:
        done = perform({"hourly_check": lambda: services().sweep_coordinator.start(HOURLY_CHECK, invocation).sweep_id,
                        # what a crash or a transient failure left unsent
                        "relay": lambda: services().deliveries.relay(),
                        "redrive": lambda: services().run_engine.redrive(has_time=has_time),
                        "migrate": lambda: services().migrations.run(has_time=has_time)["pending"]})
        logger.info("upkeep done", extra=done)
        return {"hourly_check_id": done["hourly_check"], "relayed": done["relay"], "redriven": done["redrive"],
                "migrations_pending": done["migrate"]}
    done = perform({"sweep": lambda: services().sweep_coordinator.start(SWEEP, invocation).sweep_id})
    logger.info("sweep started", extra=done)
    return {"sweep_id": done["sweep"]}
