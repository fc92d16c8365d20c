"""Bounded work (issue 22): no invocation outlasts its timeout, whatever the input's size. The
hourly check hands its catch-up on with a cursor, one ingestion message starts at most
RUNS_PER_MESSAGE runs and hands the rest on, and the executor starts a send only when its
longest fits in the invocation, the rest of the run going on in another; all of it without
making or sending anything twice. Also here: EventBridge throttling a run's event, and the
re-drive's check that every scheduled run had a schedule."""
import json
from datetime import datetime, timedelta

from support import Refusal, error_answer

from automations import config
from automations.adapters import aws
from automations.domain.contact_rules import Delay
from automations.domain.model import Action, AutomationDraft, Conditions, SubjectKind, Trigger
from automations.domain.run import RunStatus



def _pending(env, queue_url):
    """Every message waiting on the queue, taken off it (bodies)."""
    bodies = []
    while messages := env.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            env.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def _records(env, queue, bodies):
    from automations_local.queues import sqs_record

    arn = env.template.arn(queue)
    return {"Records": [sqs_record({"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": json.dumps(body),
                                    "Attributes": {}, "MD5OfBody": ""}, arn, "us-east-1")
                        for n, body in enumerate(bodies)]}


def _invoke(env, function, queue, bodies):
    from automations_local.lambdas import invoke

    answer = invoke(env.template.functions[function], _records(env, queue, bodies))
    assert answer == {"batchItemFailures": []}


def test_a_long_catch_up_hands_its_cursor_on_and_makes_each_run_once(env, monkeypatch):
    """Before, the hourly check read the whole log in one invocation: with a million joins in two
    hours it ran out of time, started again from the beginning and ended in the dead-letter queue."""
    from automations.service import hourly_check

    monkeypatch.setattr(hourly_check, "CATCH_UP_PAGE", 7)  # the 5 contacts created, and 2 of their joins
    env.rule(env.send_email(), delay=Delay(0, 3, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(5)]
    env.clock.advance(60)
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.sqs.purge_queue(QueueUrl=config.events_queue_url())  # every hand-off lost
    assert env.hourly.hourly_check(env.account, has_time=lambda: False) == {
        "zone_followed": 0, "schedules": 0, "caught_up_runs": 2, "continued": 1}  # a page, then the rest handed on
    [rest] = _pending(env, config.expand_queue_url())
    assert rest["hourly_check"] is True and rest["account_id"] == env.account and rest["cursor"]
    env.clock.advance(3 * 3600)  # the rest runs late: it still reads the window it started with
    assert env.hourly.hourly_check(env.account, since=rest["since"], cursor=rest["cursor"], has_time=lambda: False) == {
        "zone_followed": 0, "schedules": 0, "caught_up_runs": 3, "continued": 0}  # from where the first stopped, to the end
    _invoke(env, "RuleExpanderFunction", "ExpandQueue", [rest, rest])  # the rest delivered twice more
    assert _pending(env, config.expand_queue_url()) == []
    runs = env.runs()
    assert sorted(r.subject_id for r in runs) == sorted(p.uuid for p in people)  # each once
    assert len({r.id for r in runs}) == 5


def _ingest_one_by_one(env):
    """Each ingestion message to the function alone; the runs each made."""
    made = []
    while bodies := _pending(env, config.events_queue_url()):
        for body in bodies:
            before = len(env.runs())
            _invoke(env, "EventsIngestFunction", "EventsQueue", [body])
            made.append(len(env.runs()) - before)
    return made


def test_one_join_message_starts_a_bounded_number_of_runs_and_hands_the_rest_on(env, monkeypatch):
    """Before, one message of a hundred joins made a run of every automation on the list for each:
    100 x (automations) runs in one invocation. Now at most RUNS_PER_MESSAGE, the rest handed on
    from where it stopped, inside an automation's joins too."""
    from automations.service import ingestion

    monkeypatch.setattr(ingestion, "RUNS_PER_MESSAGE", 3)
    for hours in (2, 3):
        env.rule(env.send_email(), delay=Delay(0, hours, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(4)]
    _pending(env, config.events_queue_url())  # their contact_created events
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    messages = _pending(env, config.events_queue_url())
    assert len(messages) == 1 and len(messages[0]["joins"]) == 4
    _invoke(env, "EventsIngestFunction", "EventsQueue", messages)
    [rest] = _pending(env, config.events_queue_url())
    assert rest["after"]["runs"] == 3 and len(env.runs()) == 3
    _invoke(env, "EventsIngestFunction", "EventsQueue", [rest])  # a redelivery of the rest:
    made = _ingest_one_by_one(env)  # the original rest and the one the redelivery handed on
    assert max(made) <= 3 and len(env.runs()) == 8  # 2 automations x 4 joins, each once
    assert sorted((r.automation_id, r.subject_id) for r in env.runs()) == sorted(
        (a, p.uuid) for a in {r.automation_id for r in env.runs()} for p in people)


def test_one_event_starts_a_bounded_number_of_runs_and_an_unreadable_position_starts_over(env, monkeypatch):
    from automations.domain import event_rules
    from automations.service import ingestion

    monkeypatch.setattr(ingestion, "RUNS_PER_MESSAGE", 2)
    for n in range(3):
        env.services.automations.create(env.account, AutomationDraft(
            title=f"Order {n}", subject=SubjectKind.CONTACT, trigger=Trigger.EVENT, conditions=Conditions(),
            trigger_config=event_rules.trigger_config("shop.order_placed", Delay(0, n + 1, 0), None),
            actions=(Action("send_email", {"template_id": env.email.id}),)))
    ann = env.contact()
    _pending(env, config.events_queue_url())  # the contact_created event
    env.services.event_ingestion.submit([ingestion.new_event(env.account, "shop.order_placed", ann.uuid, None,
                                                             named_by=("test", "o1"))])
    assert _ingest_one_by_one(env) == [2, 1]
    message = {**ingestion.new_event(env.account, "shop.order_placed", ann.uuid, None,
                                     named_by=("test", "o1")).to_message(), "after": {"automation_id": "x"}}
    _invoke(env, "EventsIngestFunction", "EventsQueue", [message])  # taken from its start: nothing twice
    assert len(env.runs()) == 3 and _ingest_one_by_one(env) == [0]


def test_a_run_whose_sends_outlast_its_invocation_goes_on_in_another_and_sends_each_once(env, monkeypatch):
    """Before, the executor's reserve assumed one webhook a run: a run with two (3 x 5 s and the
    backoff each) started with 20 s left outlived its invocation. Now each send starts only if its
    longest fits; the rest of the run goes on in another invocation, its sends so far kept."""
    from test_deliveries import Receiver

    from automations.domain import event_rules

    monkeypatch.setenv("AUTOMATIONS_LOCAL", "1")  # the receiver is on loopback
    receiver = Receiver([])
    try:
        hooks = [env.services.webhooks.create(env.account, f"CRM {n}", receiver.url) for n in range(2)]
        automation = env.services.automations.create(env.account, AutomationDraft(
            title="Two calls", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
            trigger_config=event_rules.trigger_config(None, Delay(), None),
            actions=tuple(Action("webhook", {"webhook_id": h.id, "body": f'{{"n": {n}}}'}) for n, h in enumerate(hooks))))
        ann = env.contact()
        run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="req-1")
        _pending(env, config.run_queue_url())
        asked, answers = [], iter([True, False])
        went_on = env.executor.execute(env.account, run.id, has_time=lambda seconds: asked.append(seconds) or next(answers))
        assert asked == [16.5, 16.5]  # each webhook's longest: 3 attempts of 5 s, 0.5 + 1 s between
        assert went_on.status is RunStatus.RUNNING and went_on.attempts == 0 and len(receiver.requests) == 1
        assert went_on.history[-1]["event"] == "continued"
        assert _pending(env, config.run_queue_url()) == []  # held back past the run's lease
        assert env.executor.execute(env.account, run.id).status is RunStatus.RUNNING  # nor taken before it ends
        env.clock.advance(2)
        [again] = _pending(env, config.run_queue_url())
        assert again == {"account_id": env.account, "run_id": run.id}
        done = env.executor.execute(env.account, run.id, has_time=lambda seconds: True)
        assert done.status is RunStatus.SUCCEEDED and done.attempts == 1
        assert sorted(json.loads(body)["n"] for _, body in receiver.requests) == [0, 1]  # each once
    finally:
        receiver.close()


def test_events_put_while_eventbridge_throttles_are_put_once_and_the_run_succeeds(env):
    """PutEvents answers an entry throttled, then the whole call throttled past botocore's retries:
    the run is delayed, not failed; the event goes on the bus once, and so does the announcement."""
    from automations.domain import event_rules

    automation = env.services.automations.create(env.account, AutomationDraft(
        title="Reward", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
        trigger_config=event_rules.trigger_config(None, Delay(), None),
        actions=(Action("emit_event", {"detail_type": "loyalty.credits_requested", "detail": {"c": "1"}}),)))
    ann = env.contact()
    events = aws.client("events")
    sent_entries = []  # what reached EventBridge (a refused call never does)
    events.meta.events.register("before-send.eventbridge.PutEvents",
                                lambda request, **_: sent_entries.append(json.loads(request.body)["Entries"]))
    answers = iter([
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
         "ResponseMetadata": {"HTTPStatusCode": 200}},
        error_answer("ThrottlingException")])
    with Refusal(events, "PutEvents", lambda request: next(answers), times=2) as throttle:
        run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="req-1")
        for _ in range(20):
            if env.run_store.get(env.account, run.id).finished:
                break
            env.drain()
            env.clock.advance(20)
    assert throttle.refused == 2
    done = env.run_store.get(env.account, run.id)
    assert done.status is RunStatus.SUCCEEDED and done.attempts == 1
    assert [h.get("times") for h in done.history if h["event"] == "throttled"] == [2]
    kinds = [entry["DetailType"] for entries in sent_entries for entry in entries]
    assert sorted(kinds) == ["automation.run.succeeded", "loyalty.credits_requested"]  # each once on the bus


def test_a_scheduled_run_the_redrive_finds_is_counted_as_one_without_a_schedule(env, capsys):
    """The invariant "every scheduled run has a schedule", checked in production: the executor
    counts each run the re-drive brings (RunsRedriven, by the status it waited in) and logs a
    scheduled one as an error."""
    from test_telemetry import captured_logs, emitted, metric

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann, bob = env.contact(), env.contact(email="bob@example.com")
    env.join(ann)
    env.join(bob)
    lost, kept = sorted(env.runs(), key=lambda r: r.subject_id != ann.uuid)
    env.scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=lost.id)
    env.clock.set(lost.due_at)
    env.fire_due_schedules()  # bob's schedule fires
    env.clock.set(lost.due_at + timedelta(minutes=10))
    capsys.readouterr()
    assert env.executor.redrive().done == 1
    [body] = _pending(env, config.run_queue_url())
    assert body == {"account_id": env.account, "run_id": lost.id, "redriven": True}
    with captured_logs() as lines:
        _invoke(env, "RunExecutorFunction", "RunQueue", [body])
        logged = lines()
    [counted] = metric(emitted(capsys.readouterr().out), "RunsRedriven")
    assert (counted["status"], counted["run_id"]) == ("scheduled", lost.id)
    assert any(line["message"].startswith("scheduled run had no schedule") and lost.id in line["message"]
               for line in logged)
    assert {r.subject_id: r.status for r in env.runs()} == {ann.uuid: RunStatus.SUCCEEDED, bob.uuid: RunStatus.SUCCEEDED}


def test_a_big_shard_of_a_firing_goes_on_through_the_expand_queue_from_its_cursor_and_runs_each_member_once(
        env, monkeypatch):
    from automations.adapters import dynamo_contacts
    from automations.adapters.dynamo_contacts import DynamoGroupStore
    from automations.domain.contact_rules import ClockTime, Recurrence
    from automations.domain.messages import Expansion
    from automations.service import firings
    from simulator import NY

    monkeypatch.setattr(dynamo_contacts, "JOIN_SHARDS", 1)
    monkeypatch.setattr(DynamoGroupStore, "member_shards", 1)
    monkeypatch.setattr(firings, "EXPANSION_PAGE", 2)
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60)))
    members = [env.contact(email=f"m{n}@example.com") for n in range(5)]
    env.services.contact_lists.add_members(env.account, env.list.id, [m.uuid for m in members])
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=NY)
    env.clock.set(monday)
    done = env.firings.continue_expansion(Expansion(env.account, daily.id, monday.date(), shard=0),
                                         has_time=lambda: False)
    assert done.done == 1 and done.rest.cursor and len(env.runs()) == 2  # a page, then the rest handed on
    [rest] = _pending(env, config.expand_queue_url())
    assert rest == {"account_id": env.account, "automation_id": daily.id, "day": "2026-11-02", "shard": 0,
                    "cursor": done.rest.cursor}
    _invoke(env, "RuleExpanderFunction", "ExpandQueue", [rest, rest])  # the rest, delivered twice
    assert _pending(env, config.expand_queue_url()) == []  # the function had the time to read it to the end
    assert sorted(r.subject_id for r in env.runs()) == sorted(m.uuid for m in members)


def test_a_throttled_expansion_goes_on_30_s_later_as_a_new_message_and_runs_each_member_once(env, monkeypatch):
    """DynamoDB throttles a firing's expansion past every retry: not a batch item failure (SQS
    would bring it back after the expand queue's 30-minute visibility timeout, one of its 5
    receives: a daily 9:00 mail at 9:30) but a new message 30 s later; done again, it runs each
    member once."""
    from support import Refusal, error_answer

    from automations.adapters import aws, dynamo_contacts
    from automations.adapters.dynamo_contacts import DynamoGroupStore
    from automations.domain.contact_rules import ClockTime, Recurrence
    from automations_local.lambdas import invoke
    from simulator import NY

    monkeypatch.setattr(dynamo_contacts, "JOIN_SHARDS", 1)
    monkeypatch.setattr(DynamoGroupStore, "member_shards", 1)
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60)))
    members = [env.contact(email=f"m{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [m.uuid for m in members])
    env.clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=NY))
    expansion = {"account_id": env.account, "automation_id": daily.id, "day": "2026-11-02", "shard": 0}
    with Refusal(aws.client("dynamodb"), "PutItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: "RUN#" in str(request.get("body"))) as throttle:
        answer = invoke(env.template.functions["RuleExpanderFunction"], _records(env, "ExpandQueue", [expansion]))
    assert throttle.refused == 1 and answer == {"batchItemFailures": []}
    queue = env.sqs.get_queue_attributes(QueueUrl=config.expand_queue_url(), AttributeNames=["All"])["Attributes"]
    assert queue["ApproximateNumberOfMessagesDelayed"] == "1"
    _invoke(env, "RuleExpanderFunction", "ExpandQueue", [expansion])  # the message handed back, delivered
    assert sorted(r.subject_id for r in env.runs()) == sorted(m.uuid for m in members)


def test_a_malformed_run_queue_message_fails_alone_and_the_batch_goes_on(env):
    from automations_local.lambdas import invoke

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    env.join(env.contact())
    [run] = env.runs()
    env.clock.set(run.due_at)
    bodies = [{"run_id": run.id}, {"account_id": env.account, "run_id": run.id}, "a run", {"due_minute": "soon"}]
    answer = invoke(env.template.functions["RunExecutorFunction"], _records(env, "RunQueue", bodies))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"},
                                            {"itemIdentifier": "m3"}]}
    assert [r.status for r in env.runs()] == [RunStatus.SUCCEEDED]


def test_a_malformed_expand_queue_message_fails_alone_and_the_batch_goes_on(env):
    from automations_local.lambdas import invoke

    env.rule(env.send_email(), delay=Delay(0, 3, 0))
    env.contact()
    env.services.contact_lists.add_members(env.account, env.list.id, [env.contact(email="bob@example.com").uuid])
    env.sqs.purge_queue(QueueUrl=config.events_queue_url())  # the join's hand-off lost: the hourly check makes its run
    bodies = [{"hourly_check": True}, {"account_id": env.account, "hourly_check": True},
              {"account_id": env.account, "automation_id": "a rule", "day": "2026-11-02"}]
    answer = invoke(env.template.functions["RuleExpanderFunction"], _records(env, "ExpandQueue", bodies))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}]}
    assert len(env.runs()) == 1
