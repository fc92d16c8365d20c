"""Time buckets (service/time_buckets.py) over moto: per-run schedules while few runs are due in a
(minute, shard), one schedule per bucket beyond that, and every run executed exactly once in
both modes, cancels included, through the executor function as Scheduler and SQS invoke it."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import boto3
from support import Refusal, error_answer

from automations import clock, config
from automations.adapters.dynamo_runs import DynamoRunStore
from automations.domain.contact_rules import Delay
from automations.domain.messages import BucketDispatch
from automations.domain.run import RunStatus
from automations.service import time_buckets


def _invoke_executor(env, event):
    from automations_local.lambdas import invoke

    return invoke(env.template.functions["RunExecutorFunction"], event)


def _fire_schedules(env):
    """Invoke the executor with each schedule's input whose time has come, as Scheduler does."""
    names = []
    for s in env.schedules():
        at = datetime.fromisoformat(s["ScheduleExpression"][3:-1]).replace(tzinfo=timezone.utc)
        if at <= clock.now():
            _invoke_executor(env, json.loads(s["Target"]["Input"]))
            env.scheduler.delete_schedule(GroupName=s["GroupName"], Name=s["Name"])
            names.append(s["Name"])
    return names


def _run_queue(env):
    """Deliver the run queue to the executor function, ten at a time, as its event source does."""
    from automations_local.queues import sqs_record

    arn = env.template.arn("RunQueue")
    while messages := env.sqs.receive_message(QueueUrl=config.run_queue_url(), MaxNumberOfMessages=10,
                                              AttributeNames=["All"]).get("Messages", []):
        answer = _invoke_executor(env, {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
        assert answer == {"batchItemFailures": []}
        for m in messages:
            env.sqs.delete_message(QueueUrl=config.run_queue_url(), ReceiptHandle=m["ReceiptHandle"])


def _joined(env, count):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(count)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    return env.runs()


def test_a_crowded_minute_gets_one_schedule_per_shard_and_every_run_runs_once(env, monkeypatch):
    monkeypatch.setattr(time_buckets, "PER_RUN_SCHEDULES", 1)
    runs = _joined(env, 40)
    assert len(runs) == 40 and len({r.due_at for r in runs}) == 1
    minute = time_buckets.minute_of(runs[0].due_at)
    shards: dict[int, list] = {}
    for run in runs:
        shards.setdefault(DynamoRunStore.due_shard(run), []).append(run)
    crowded = {shard for shard, members in shards.items() if len(members) > 1}
    assert crowded  # 40 runs in 32 shards: some share one

    schedules = {s["Name"]: s for s in env.schedules()}
    buckets = {name for name in schedules if name.startswith("due_")}
    assert buckets == {f"due_{minute:%Y%m%d%H%M}_{shard}" for shard in crowded}
    assert len(schedules) - len(buckets) == len(shards)  # the first run of each shard: its own schedule
    for name in buckets:  # fired when the minute is over: never early
        assert schedules[name]["ScheduleExpression"] == f"at({minute + timedelta(minutes=1):%Y-%m-%dT%H:%M:%S})"

    bucketed = next(r for shard in crowded for r in shards[shard] if r.id not in schedules)
    env.executor.cancel(env.account, bucketed.id)
    env.clock.set(minute + timedelta(minutes=1))
    assert len(_fire_schedules(env)) == len(schedules)
    _run_queue(env)
    done = {r.id: r.status for r in env.runs()}
    assert done.pop(bucketed.id) is RunStatus.CANCELLED
    assert set(done.values()) == {RunStatus.SUCCEEDED}
    recipients = [d["recipient"] for d in env.sent()]
    assert len(recipients) == len(set(recipients)) == 39  # each once, none to the cancelled run's contact
    assert env.services.contacts.get(env.account, bucketed.subject_id).email not in recipients


def test_a_bucket_too_big_for_one_invocation_is_handed_on_through_the_queue(env, monkeypatch):
    monkeypatch.setattr(time_buckets, "PER_RUN_SCHEDULES", 0)
    monkeypatch.setattr(time_buckets, "DISPATCH_PAGE", 1)
    runs = _joined(env, 12)
    minute = time_buckets.minute_of(runs[0].due_at)
    env.clock.set(minute + timedelta(minutes=1))
    shard = DynamoRunStore.due_shard(runs[0])
    queued = env.services.time_buckets.dispatch(BucketDispatch(minute, shard), has_time=lambda: False)
    assert queued.done == 1  # one page, then the rest handed on
    _run_queue(env)  # the continuation goes through the executor function, page by page
    in_shard = [r for r in env.runs() if DynamoRunStore.due_shard(r) == shard]
    assert {r.status for r in in_shard} == {RunStatus.SUCCEEDED} and len(env.sent()) == len(in_shard)


def _imported(env, count):
    """``count`` new contacts, bulk-loaded (no contact events: nothing starts)."""
    from automations.adapters.dynamo_contacts import DynamoContactStore
    from automations.domain.contacts import Contact

    now = clock.now()
    people = [Contact(account_id=env.account, uuid=str(uuid.uuid4()), email=f"c{n}@example.com", phone=None,
                      first_name=None, last_name=None, timezone=None, custom_fields={}, created_at=now, updated_at=now)
              for n in range(count)]
    DynamoContactStore(boto3.client("dynamodb"), config.table_name()).import_contacts(people)
    return people


def _ingest(env, records):
    from automations_local.lambdas import invoke

    return invoke(env.template.functions["EventsIngestFunction"], {"Records": records})["batchItemFailures"]


def test_a_bucket_whose_schedule_was_throttled_gets_it_when_the_hand_on_is_redelivered(env, monkeypatch):
    """100 runs in one message, 50 in the next, the bucket's CreateSchedule (at the 101st run)
    throttled, the second message handed back (a new message, 30 s later) and delivered again:
    before, its runs were numbered again (151-200), none made the bucket's schedule, and they
    waited for the hourly re-drive."""
    from automations.adapters import aws, dynamo_runs
    from automations_local.queues import sqs_record

    monkeypatch.setattr(dynamo_runs, "DUE_SHARDS", 1)  # every run in one (minute, shard)
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    people = _imported(env, 150)
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    messages = []
    while got := env.sqs.receive_message(QueueUrl=config.events_queue_url(), MaxNumberOfMessages=10,
                                         AttributeNames=["All"]).get("Messages", []):
        messages += got
    first, second = sorted((sqs_record(m, env.template.arn("EventsQueue"), "us-east-1") for m in messages),
                           key=lambda record: -len(json.loads(record["body"])["joins"]))
    assert [len(json.loads(r["body"])["joins"]) for r in (first, second)] == [100, 50]

    assert _ingest(env, [first]) == []
    assert env.unscheduled() == [] and len(env.schedules()) == 100  # a schedule each
    with Refusal(aws.client("scheduler"), "CreateSchedule", error_answer("ThrottlingException"),
                 when=lambda request: "/schedules/due_" in request["url_path"]) as throttle:
        assert _ingest(env, [second]) == []  # not a failure: the message goes back to the queue, 30 s later
    assert throttle.refused == 1 and len(env.unscheduled()) == 50
    queue = env.sqs.get_queue_attributes(QueueUrl=config.events_queue_url(), AttributeNames=["All"])["Attributes"]
    assert queue["ApproximateNumberOfMessagesDelayed"] == "1"
    assert _ingest(env, [second]) == []  # the message handed back, delivered
    assert env.unscheduled() == []

    minute = time_buckets.minute_of(env.runs()[0].due_at)
    env.clock.set(minute + timedelta(minutes=1))
    _fire_schedules(env)
    _run_queue(env)
    assert {r.status for r in env.runs()} == {RunStatus.SUCCEEDED} and len(env.runs()) == 150
    recipients = [d["recipient"] for d in env.sent()]
    assert len(recipients) == len(set(recipients)) == 150  # each once, none early
