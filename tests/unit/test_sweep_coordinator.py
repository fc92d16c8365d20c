"""The hourly coordinator over real stores and queues (moto): its fan-out pages over any number of
accounts, every account shard gets one task a cycle, a crash between pages loses nothing, and one
hourly duty failing never keeps the others from their turn."""
import json
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest

from automations import clock
from automations.domain.ticket import SWEEP_SHARDS
from automations.service import sweep as sweep_module
from automations.domain.sweep import HOURLY_CHECK, SWEEP, FanOut, SweepTask

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
ACCOUNTS = 23


@pytest.fixture
def env(aws, monkeypatch):
    from automations import bootstrap

    previous = clock.get_clock()
    clock.set_clock(clock.MovableClock(T0, frozen=True))
    accounts = bootstrap.services().accounts
    ids = {accounts.create_account(f"Acme {n}", f"owner{n}@acme.test")[0].id for n in range(ACCOUNTS)}
    monkeypatch.setattr(sweep_module, "ACCOUNTS_PER_PAGE", 4)  # 6 pages
    yield bootstrap, aws, ids
    clock.set_clock(previous)


def take_all(aws, queue: str) -> list[dict]:
    """Every message on ``queue``, received and deleted."""
    sqs, url, bodies = boto3.client("sqs"), aws.queue_url(queue), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(messages)])
    return bodies


def consume_fan_outs(bootstrap, aws, *, crash_on_page: int | None = None) -> int:
    """The fan-out queue's consumer, one page per invocation (always out of time after its first):
    each step taken off the queue only once its invocation returned, as SQS and Lambda do. Returns
    the invocations."""
    coordinator, invocations = bootstrap.services().sweep_coordinator, 0
    while steps := take_all(aws, "SweepFanOutQueue"):
        for body in steps:
            invocations += 1
            step = FanOut(**body)
            if invocations == crash_on_page:
                with pytest.raises(ConnectionError):
                    coordinator.fan_out(step, has_time=lambda: False)
                steps.append(body)  # the message comes back after its visibility timeout
                continue
            coordinator.fan_out(step, has_time=lambda: False)
    return invocations


def test_every_account_shard_gets_one_task_a_cycle_however_many_pages(env):
    bootstrap, aws, ids = env
    coordinator = bootstrap.services().sweep_coordinator
    sweep = coordinator.start(SWEEP, "req-1")
    check = coordinator.start(HOURLY_CHECK, "req-1")
    assert consume_fan_outs(bootstrap, aws) == 2 * 6  # each chain: 6 pages, each in its own invocation
    tasks = [SweepTask(**body) for body in take_all(aws, "SweepQueue")]
    assert Counter((t.account_id, t.shard) for t in tasks) == {(a, s): 1 for a in ids for s in range(SWEEP_SHARDS)}
    assert {(t.sweep_id, t.cycle, t.now) for t in tasks} == {(sweep.sweep_id, "2026-03-02T08", T0.isoformat())}
    checks = [body["account_id"] for body in take_all(aws, "ExpandQueue") if body.get("hourly_check")]
    assert sorted(checks) == sorted(ids)
    assert bootstrap.services().sweep_summary(sweep.sweep_id)["shards_started"] == ACCOUNTS * SWEEP_SHARDS
    assert check.sweep_id != sweep.sweep_id and bootstrap.services().sweep_summary(check.sweep_id)["shards_started"] == 0


def test_a_crash_between_pages_loses_nothing(env, monkeypatch):
    bootstrap, aws, ids = env
    sqs, sends = bootstrap.services().sweep_queue, []
    real_send = type(sqs).send

    def crash_on_the_third(self, messages):
        sends.append(self is sqs)
        if sends.count(True) == 3 and self is sqs:
            raise ConnectionError("the network went away")
        return real_send(self, messages)

    monkeypatch.setattr(type(sqs), "send", crash_on_the_third)
    sweep = bootstrap.services().sweep_coordinator.start(SWEEP, "req-1")
    consume_fan_outs(bootstrap, aws, crash_on_page=3)
    tasks = [SweepTask(**body) for body in take_all(aws, "SweepQueue")]
    # the page whose tasks were not sent is sent when its step comes back: every shard has its task
    assert set(Counter((t.account_id, t.shard) for t in tasks)) == {(a, s) for a in ids for s in range(SWEEP_SHARDS)}
    assert len(tasks) == ACCOUNTS * SWEEP_SHARDS
    # counted before sending: the lost send shows as tasks that never finished, never as success
    assert bootstrap.services().sweep_summary(sweep.sweep_id)["shards_started"] == (ACCOUNTS + 4) * SWEEP_SHARDS


def test_the_hand_on_crashing_resends_its_step_whole(env, monkeypatch):
    bootstrap, aws, ids = env
    real_send = type(bootstrap.services().sweep_queue).send
    failed = []

    def lose_one_hand_on(self, messages):
        if isinstance(messages[0], FanOut) and messages[0].after is not None and not failed:
            failed.append(messages[0].after)
            raise ConnectionError("SQS went away")
        return real_send(self, messages)

    monkeypatch.setattr(type(bootstrap.services().sweep_queue), "send", lose_one_hand_on)
    bootstrap.services().sweep_coordinator.start(SWEEP, "req-1")
    coordinator = bootstrap.services().sweep_coordinator
    [body] = take_all(aws, "SweepFanOutQueue")
    with pytest.raises(ConnectionError):  # its page was sent, the rest not handed on: the step comes back
        coordinator.fan_out(FanOut(**body), has_time=lambda: False)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.queue_url("SweepFanOutQueue"), MessageBody=json.dumps(body))
    consume_fan_outs(bootstrap, aws)
    tasks = Counter((t["account_id"], t["shard"]) for t in take_all(aws, "SweepQueue"))
    assert set(tasks) == {(a, s) for a in ids for s in range(SWEEP_SHARDS)}
    assert sum(tasks.values()) == (ACCOUNTS + 4) * SWEEP_SHARDS  # only the first page twice (harmless: cycle marks)


# -- the hourly duties: the sweep on its own, the upkeep's each apart --------------------------------
DUTIES = {"sweep": ("automations.service.sweep", "SweepCoordinator", "start"),
          "hourly_check": ("automations.service.sweep", "SweepCoordinator", "start"),
          "relay": ("automations.service.deliveries", "DeliveryService", "relay"),
          "redrive": ("automations.service.executing", "RunExecutor", "redrive"),
          "migrate": ("automations.service.migrations", "Migrations", "run")}
UPKEEP_DUTIES = {"hourly_check", "relay", "redrive", "migrate"}


def _schedule_input(aws, event_name: str) -> dict:
    """What the coordinator's schedule ``event_name`` sends it, as the template says."""
    [event] = [e for e in aws.events("ScheduleV2") if e.name == event_name]
    return json.loads(event.properties["Input"]) if "Input" in event.properties else {}


def _spy_on_duties(monkeypatch, poisoned: str | None = None) -> Counter:
    import importlib

    calls = Counter()
    for module, cls, method in set(DUTIES.values()):
        owner = getattr(importlib.import_module(module), cls)
        real = getattr(owner, method)

        def spy(self, *args, _real=real, _method=method, **kwargs):
            purpose = args[0] if args else kwargs.get("purpose", SWEEP)
            duty = purpose if _method == "start" else "migrate" if _method == "run" else _method
            calls[duty] += 1
            if duty == poisoned:
                raise RuntimeError(f"{duty} is poisoned")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(owner, method, spy)
    return calls


@pytest.mark.parametrize(("schedule", "duties"), [("Hourly", {"sweep"}), ("Upkeep", UPKEEP_DUTIES)])
def test_each_schedule_runs_its_own_duties(env, monkeypatch, schedule, duties):
    from automations_local.lambdas import invoke

    _, aws, _ = env
    calls = _spy_on_duties(monkeypatch)
    invoke(aws.functions["SweepCoordinatorFunction"], _schedule_input(aws, schedule))
    assert calls == {duty: 1 for duty in duties}


@pytest.mark.parametrize("duties", ["upkeeps", "", None, 7])
def test_an_unknown_duties_input_fails_and_starts_nothing(env, monkeypatch, duties):
    from automations_local.lambdas import invoke

    _, aws, _ = env
    calls = _spy_on_duties(monkeypatch)
    with pytest.raises(ValueError, match="unknown duties"):
        invoke(aws.functions["SweepCoordinatorFunction"], {"duties": duties})
    assert calls == {} and not take_all(aws, "SweepFanOutQueue")


@pytest.mark.parametrize("poisoned", sorted(UPKEEP_DUTIES))
def test_one_upkeep_duty_failing_leaves_the_others_done_and_fails_the_invocation(env, monkeypatch, capsys, poisoned):
    from test_telemetry import emitted, metric

    from automations.service.hourly import DutiesFailed
    from automations_local.lambdas import invoke

    bootstrap, aws, _ = env
    calls = _spy_on_duties(monkeypatch, poisoned)
    monkeypatch.setenv("STACK_NAME", "automations-test")
    with pytest.raises(DutiesFailed) as failure:
        invoke(aws.functions["SweepCoordinatorFunction"], _schedule_input(aws, "Upkeep"))
    assert failure.value.failed == [poisoned] and set(failure.value.done) == UPKEEP_DUTIES - {poisoned}
    assert calls == {duty: 1 for duty in UPKEEP_DUTIES}  # every duty had its turn
    started = {body["purpose"] for body in take_all(aws, "SweepFanOutQueue")}
    assert started == {HOURLY_CHECK} - {poisoned}
    [counted] = metric(emitted(capsys.readouterr().out), "HourlyDutiesFailed")
    assert counted["duty"] == poisoned and counted["HourlyDutiesFailed"] == [1.0]


def test_the_upkeep_answers_what_it_did(env):
    _, aws, _ = env
    from automations_local.lambdas import invoke

    answer = invoke(aws.functions["SweepCoordinatorFunction"], _schedule_input(aws, "Upkeep"))
    assert answer["hourly_check_id"].startswith("sweep_") and (answer["relayed"], answer["redriven"]) == (0, 0)
    assert answer["migrations_pending"] == []
    assert [body["purpose"] for body in take_all(aws, "SweepFanOutQueue")] == [HOURLY_CHECK]


def test_the_hourly_invocation_answers_the_sweep_it_started(env):
    bootstrap, aws, ids = env
    from automations_local.lambdas import invoke

    answer = invoke(aws.functions["SweepCoordinatorFunction"], _schedule_input(aws, "Hourly"))
    assert set(answer) == {"sweep_id"} and answer["sweep_id"].startswith("sweep_")
    [step] = [FanOut(**body) for body in take_all(aws, "SweepFanOutQueue")]
    assert step.purpose == SWEEP and step.sweep_id == answer["sweep_id"]
    # the fan-out queue's records come back to the same function, which pages through them
    record = {"messageId": "m1", "receiptHandle": "r1", "body": step.to_json(), "attributes": {},
              "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": aws.arn("SweepFanOutQueue"), "awsRegion": "us-east-1"}
    assert invoke(aws.functions["SweepCoordinatorFunction"], {"Records": [record]}) == {"batchItemFailures": []}
    tasks = take_all(aws, "SweepQueue")
    assert len(tasks) == ACCOUNTS * SWEEP_SHARDS and not take_all(aws, "SweepFanOutQueue")  # all in one invocation


def test_lambdas_retries_of_a_failed_upkeep_start_no_second_pass(env, monkeypatch):
    from automations.service.deliveries import DeliveryService
    from automations_local.lambdas import invoke_async

    bootstrap, aws, _ = env
    relays = []

    def poisoned(self, *args, **kwargs):
        relays.append(1)
        raise RuntimeError("the outbox is poisoned")

    monkeypatch.setattr(DeliveryService, "relay", poisoned)
    function, upkeep = aws.functions["SweepCoordinatorFunction"], _schedule_input(aws, "Upkeep")
    _, error = invoke_async(function, upkeep)  # fails, is retried twice (one request id), then the failure queue
    assert "relay" in str(error) and len(relays) == 1 + function.async_retries
    assert [step["purpose"] for step in take_all(aws, "SweepFanOutQueue")] == [HOURLY_CHECK]
    invoke_async(function, upkeep)  # the next hour's invocation: a new pass
    assert [step["purpose"] for step in take_all(aws, "SweepFanOutQueue")] == [HOURLY_CHECK]
