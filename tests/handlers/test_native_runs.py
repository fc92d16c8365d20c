"""The native runs handlers (GET /v1/runs, GET /v1/runs/{id}, POST /v1/runs/{id}/cancel) and the
run engine's event handlers (the executor and the rule expander) with their sample events."""
import json
from datetime import timedelta

import boto3
import pytest
from support import basic_auth, http_event, invoke, sample_event

from automations import clock, config


@pytest.fixture
def world(account, aws):
    """An account with a contact list whose joins send an email an hour later, and two members."""
    from automations.bootstrap import services
    from automations.domain.contact_rules import ActionKind, ContactRule, Delay, RuleAction
    from automations.domain.contacts import GroupKind
    from automations.domain.model import Trigger

    acct, _, auth = account
    wired = services()
    boto3.client("ses").verify_email_identity(EmailAddress=config.sender_email())
    group = wired.contact_lists.create(acct.id, "Newsletter")
    template = wired.templates.create(acct.id, {"type": "email", "title": "Hi", "subject": "Hi", "text": "Hello"})
    automation = wired.contact_automations.create(acct.id, ContactRule(
        Trigger.LIST_JOINED, GroupKind.LIST, group.id, RuleAction(ActionKind.SEND_EMAIL, template_id=template.id),
        delay=Delay(0, 1, 0)))
    contacts = [wired.contacts.create(acct.id, {"email": f"c{n}@example.com"}) for n in range(2)]
    wired.contact_lists.add_members(acct.id, group.id, [c.uuid for c in contacts])
    _ingest(aws)  # the joins reach the engine through the ingestion queue
    return {"account": acct, "auth": auth, "automation": automation, "contacts": contacts, "group": group}


def _ingest(aws):
    from automations_local.queues import sqs_record

    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=config.events_queue_url(), MaxNumberOfMessages=10,
                                   AttributeNames=["All"])["Messages"]
    answer = call(aws, "EventsIngestFunction",
                  {"Records": [sqs_record(m, aws.arn("EventsQueue"), "us-east-1") for m in messages]})
    assert answer == {"batchItemFailures": []}


def call(aws, logical_id, event):
    """Invoke a template function as Lambda does (with a context)."""
    from automations_local.lambdas import invoke as invoke_function

    return invoke_function(aws.functions[logical_id], event)


def runs(auth, **query):
    return invoke("runs_list", http_event("GET", "/v1/runs", query={k: str(v) for k, v in query.items()},
                                          authorization=auth))


def cancel(auth, run_id):
    return invoke("runs_cancel", http_event("POST", f"/v1/runs/{run_id}/cancel", route="/v1/runs/{run_id}/cancel",
                                            path_params={"run_id": run_id}, authorization=auth))


def test_runs_filtered_by_contact_automation_and_status(world):
    auth, ann = world["auth"], world["contacts"][0]
    status, _, body = runs(auth, contact_uuid=ann.uuid)
    assert status == 200 and [r["subject"] for r in body["runs"]] == [{"kind": "contact", "id": ann.uuid}]
    assert body["runs"][0]["status"] == "scheduled" and body["runs"][0]["due_at"]
    assert len(runs(auth, automation_id=world["automation"].id)[2]["runs"]) == 2
    assert runs(auth, automation_id=world["automation"].id, status="succeeded")[2]["runs"] == []
    first = runs(auth, limit=1)[2]
    second = runs(auth, limit=1, cursor=first["next_cursor"])[2]
    assert first["next_cursor"] and {r["id"] for r in first["runs"] + second["runs"]} == \
        {r["id"] for r in runs(auth)[2]["runs"]}


def test_an_automations_runs_page_newest_first_and_a_status_fills_its_pages(world, aws):
    """The automation's listing reads keys from its keys-only index, then the runs: pages come
    newest first whatever the shards, and a status, filtered after the keys, still fills each
    page while runs of it are left."""
    from automations.bootstrap import services

    auth, automation, acct = world["auth"], world["automation"], world["account"]
    wired = services()
    more = [wired.contacts.create(acct.id, {"email": f"m{n}@example.com"}) for n in range(4)]
    wired.contact_lists.add_members(acct.id, world["group"].id, [c.uuid for c in more])
    _ingest(aws)
    every = runs(auth, automation_id=automation.id)[2]["runs"]
    assert len(every) == 6 and [r["created_at"] + r["id"] for r in every] == sorted(
        (r["created_at"] + r["id"] for r in every), reverse=True)
    pages, cursor = [], None
    while True:
        body = runs(auth, automation_id=automation.id, limit=4, **({"cursor": cursor} if cursor else {}))[2]
        pages.append([r["id"] for r in body["runs"]])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert pages == [[r["id"] for r in every[:4]], [r["id"] for r in every[4:]]]
    cancelled = [every[1]["id"], every[3]["id"], every[5]["id"]]
    for run_id in cancelled:
        assert cancel(auth, run_id)[0] == 200
    first = runs(auth, automation_id=automation.id, status="cancelled", limit=2)[2]
    assert [r["id"] for r in first["runs"]] == cancelled[:2] and first["next_cursor"]
    rest = runs(auth, automation_id=automation.id, status="cancelled", limit=2, cursor=first["next_cursor"])[2]
    assert [r["id"] for r in rest["runs"]] == cancelled[2:] and not rest.get("next_cursor")


@pytest.mark.parametrize("query, expected", [
    ({"status": "nearly"}, 422), ({"limit": "0"}, 422), ({"limit": "x"}, 422), ({"cursor": "not-a-cursor"}, 400),
    ({"contact_uuid": "1" * 37}, 422), ({"ticket_id": "1", "contact_uuid": "x"}, 400)])
def test_bad_run_filters_are_refused_in_the_native_format(world, query, expected):
    status, _, body = runs(world["auth"], **query)
    assert status == expected and set(body["error"]) == {"code", "message", "details"}


def test_cancel_a_scheduled_run_and_its_schedule(world):
    auth, ann = world["auth"], world["contacts"][0]
    run_id = runs(auth, contact_uuid=ann.uuid)[2]["runs"][0]["id"]
    scheduler = boto3.client("scheduler")
    assert scheduler.get_schedule(GroupName=config.run_schedule_group(), Name=run_id)
    status, _, body = cancel(auth, run_id)
    assert status == 200 and body["status"] == "cancelled" and body["history"][-1]["event"] == "cancelled"
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(GroupName=config.run_schedule_group(), Name=run_id)
    assert cancel(auth, run_id)[0] == 200  # cancelling again answers the same
    status, _, body = invoke("runs_get", http_event("GET", f"/v1/runs/{run_id}", route="/v1/runs/{run_id}",
                                                    path_params={"run_id": run_id}, authorization=auth))
    assert status == 200 and body["status"] == "cancelled"


def test_cancel_refusals(world, aws):
    from automations.bootstrap import services

    auth, bob = world["auth"], world["contacts"][1]
    run_id = runs(auth, contact_uuid=bob.uuid)[2]["runs"][0]["id"]
    other, key = services().accounts.create_account("Other", "o@other.test")
    assert cancel(basic_auth(other.email, key), run_id)[0] == 404  # another account's run
    assert cancel(auth, "run_nope")[0] == 404
    assert cancel(None, run_id)[0] == 401
    moving = clock.MovableClock(clock.now() + timedelta(hours=2), frozen=True)
    previous = clock.get_clock()
    clock.set_clock(moving)
    try:
        call(aws, "RunExecutorFunction", {"account_id": world["account"].id, "run_id": run_id})
        status, _, body = cancel(auth, run_id)
        assert status == 409 and body["error"]["code"] == "conflict" and "succeeded" in body["error"]["message"]
    finally:
        clock.set_clock(previous)


def test_the_executor_takes_schedule_payloads_and_queue_batches(world, aws):
    ann, bob = world["contacts"]
    ids = {c.uuid: runs(world["auth"], contact_uuid=c.uuid)[2]["runs"][0]["id"] for c in (ann, bob)}
    previous = clock.get_clock()
    clock.set_clock(clock.MovableClock(clock.now() + timedelta(hours=2), frozen=True))
    try:
        payload = {"account_id": world["account"].id, "run_id": ids[ann.uuid]}
        assert call(aws, "RunExecutorFunction", payload) == {"run_id": ids[ann.uuid]}
        batch = sample_event("run_executor_sqs")
        batch["Records"][0]["body"] = json.dumps({"account_id": world["account"].id, "run_id": ids[bob.uuid]})
        broken = dict(batch["Records"][0], messageId="broken", body="{not json")
        batch["Records"].append(broken)
        assert call(aws, "RunExecutorFunction", batch) == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    finally:
        clock.set_clock(previous)
    statuses = {r["status"] for r in runs(world["auth"])[2]["runs"]}
    assert statuses == {"succeeded"}


def test_a_queue_batch_short_of_time_hands_its_unstarted_runs_back(world, aws, monkeypatch):
    from automations.service.executing import RunExecutor
    from automations_local.lambdas import LambdaContext

    ann, bob = world["contacts"]
    ids = {c.uuid: runs(world["auth"], contact_uuid=c.uuid)[2]["runs"][0]["id"] for c in (ann, bob)}
    executed, real_execute = [], RunExecutor.execute

    def execute(self, account_id, run_id, **options):  # each run waits 45 s on its webhook
        executed.append(run_id)
        return real_execute(self, account_id, run_id)

    monkeypatch.setattr(RunExecutor, "execute", execute)
    monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: 60_000 - 45_000 * len(executed))
    sqs, url = boto3.client("sqs"), config.run_queue_url()
    for c in (ann, bob):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"account_id": world["account"].id,
                                                               "run_id": ids[c.uuid]}))
    previous = clock.get_clock()
    clock.set_clock(clock.MovableClock(clock.now() + timedelta(hours=2), frozen=True))
    try:
        batch = run_queue_batch(aws)
        assert len(batch["Records"]) == 2
        # 15 s left after the first run: too little for the second, which goes back to the queue
        # unstarted, as a new message (none of its receives counted toward the dead-letter queue)
        answer = call(aws, "RunExecutorFunction", batch)
        assert answer == {"batchItemFailures": []}
        [first] = executed
        statuses = {r["id"]: r["status"] for r in runs(world["auth"])[2]["runs"]}
        assert statuses == {run_id: "succeeded" if run_id == first else "scheduled" for run_id in ids.values()}
        executed.clear()
        again = run_queue_batch(aws)  # at once, not after the queue's visibility timeout
        assert [r["body"] for r in again["Records"]] == [batch["Records"][1]["body"]]
        assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"
        assert call(aws, "RunExecutorFunction", again) == {"batchItemFailures": []}
    finally:
        clock.set_clock(previous)
    assert {r["status"] for r in runs(world["auth"])[2]["runs"]} == {"succeeded"}


def run_queue_batch(aws):
    """The messages waiting on the run queue, received (in flight) as Lambda's poller hands them over."""
    from automations_local.queues import sqs_record

    messages = boto3.client("sqs").receive_message(QueueUrl=config.run_queue_url(), MaxNumberOfMessages=10,
                                                   AttributeNames=["All"])
    return {"Records": [sqs_record(m, aws.arn("RunQueue"), "us-east-1") for m in messages.get("Messages", [])]}


def test_sample_events_are_the_shapes_the_handlers_take():
    assert set(sample_event("run_executor_schedule")) == {"account_id", "run_id"}
    assert set(sample_event("rule_expander_schedule")) == {"account_id", "automation_id", "day"}


def _daily_rule(account_id: str):
    """A recurring rule firing daily at midnight on a list of its own (its schedule made)."""
    from automations.bootstrap import services
    from automations.domain.contact_rules import ActionKind, ClockTime, ContactRule, Recurrence, RuleAction
    from automations.domain.contacts import GroupKind
    from automations.domain.model import Trigger

    group = services().contact_lists.create(account_id, "Daily")
    return services().contact_automations.create(account_id, ContactRule(
        Trigger.RECURRING, GroupKind.LIST, group.id, RuleAction(ActionKind.SEND_EMAIL, template_id=1),
        recurrence=Recurrence("daily", ClockTime(0))))


def test_the_rule_expander_takes_schedule_payloads_and_queue_tasks(world, aws):
    acct = world["account"].id
    daily = _daily_rule(acct)
    scheduler = boto3.client("scheduler")
    name = scheduler.list_schedules(GroupName=config.run_schedule_group(), NamePrefix="rule_")["Schedules"][0]["Name"]
    scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=name)  # lost
    batch = sample_event("run_executor_sqs")
    batch["Records"][0]["body"] = json.dumps({"account_id": acct, "hourly_check": True})
    assert call(aws, "RuleExpanderFunction", batch) == {"batchItemFailures": []}
    assert scheduler.get_schedule(GroupName=config.run_schedule_group(), Name=name)["State"] == "ENABLED"
    day = name.rsplit(".", 1)[1]  # the firing's day
    assert call(aws, "RuleExpanderFunction", {"account_id": acct, "automation_id": daily.id, "day": day}) == \
        {"automation_id": daily.id}  # a firing: the list is empty, nothing to run
    assert call(aws, "RuleExpanderFunction", {"account_id": acct, "automation_id": 999, "day": day}) == \
        {"automation_id": 999}


def test_the_hourly_check_deletes_an_inactive_rules_schedule(world, aws):
    """A deactivation whose schedule delete was lost (the automation is written first): the
    rule expander's hourly check deletes the schedule, so the rule never fires again."""
    import dataclasses

    from automations.adapters.dynamo import DynamoAutomationStore

    acct = world["account"].id
    daily = _daily_rule(acct)
    scheduler = boto3.client("scheduler")

    def schedules():
        return scheduler.list_schedules(GroupName=config.run_schedule_group(), NamePrefix="rule_")["Schedules"]

    assert len(schedules()) == 1
    store = DynamoAutomationStore(boto3.client("dynamodb"), config.table_name())
    stored = store.get(acct, daily.id)
    store.replace(stored, dataclasses.replace(stored, active=False), 500)  # its schedule left behind
    batch = sample_event("run_executor_sqs")
    batch["Records"][0]["body"] = json.dumps({"account_id": acct, "hourly_check": True})
    assert call(aws, "RuleExpanderFunction", batch) == {"batchItemFailures": []}
    assert schedules() == []


def test_a_run_that_sets_a_custom_field_raises_contact_updated(account, aws):
    """set_custom_field: the executor updates the contact and publishes its contact_updated to
    the ingestion queue (so event automations on it run), through the executor's own role."""
    from automations.bootstrap import services
    from automations.domain.contact_rules import ActionKind, ContactRule, RuleAction
    from automations.domain.contacts import GroupKind
    from automations.domain.model import Trigger

    acct, auth, wired = account[0], account[2], services()
    score = wired.custom_fields.create(acct.id, "Score", "contact", "number")
    group = wired.contact_lists.create(acct.id, "Scored")
    wired.contact_automations.create(acct.id, ContactRule(
        Trigger.LIST_JOINED, GroupKind.LIST, group.id,
        RuleAction(ActionKind.SET_CUSTOM_FIELD, custom_field_id=score.id, value=7)))
    ada = wired.contacts.create(acct.id, {"email": "ada@example.com"})
    wired.contact_lists.add_members(acct.id, group.id, [ada.uuid])
    _ingest(aws)  # the join: its run, due now
    [run] = runs(auth, contact_uuid=ada.uuid)[2]["runs"]
    assert call(aws, "RunExecutorFunction", {"account_id": acct.id, "run_id": run["id"]}) == {"run_id": run["id"]}
    assert wired.contacts.get(acct.id, ada.uuid).custom_fields == {str(score.id): 7}
    messages = boto3.client("sqs").receive_message(QueueUrl=config.events_queue_url(), MaxNumberOfMessages=10)
    published = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [(e.get("event"), e.get("contact_uuid")) for e in published] == [("contact_updated", ada.uuid)], published


@pytest.mark.parametrize("extra", [{}, {"SRUNS_SK": {"S": "2026"}, "PK": {"S": "ACCOUNT#x#RUNS#0"},
                                         "SK": {"S": "RUN#x"}, "GSI2SK": {"S": "2026"}}])
def test_a_contacts_runs_cursor_that_is_not_a_whole_key_of_the_listing_is_refused(world, extra):
    """A cursor naming the contact's own partition but not a key of its index (missing or more
    attributes) is a 400, never a backend error (DynamoDB refuses such a start key)."""
    from automations.paging import encode_cursor

    auth, ann = world["auth"], world["contacts"][0]
    partition = {"S": f"ACCOUNT#{world['account'].id}#RUNS#CONTACT#{ann.uuid}"}
    status, _, body = runs(auth, contact_uuid=ann.uuid, cursor=encode_cursor([{"SRUNS_PK": partition, **extra}]))
    assert status == 400 and body["error"]["code"] == "malformed", body
