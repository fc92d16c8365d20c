"""The hourly sweep over real stores (moto): Zendesk semantics and exactly-once per cycle."""
import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from automations import clock
from automations.adapters.aws import client as boto3_client
from automations.adapters.dynamo_people import DynamoUserStore
from automations.domain.audit import API, Audit
from automations.domain.model import Action, Condition, Conditions
from automations.domain.run import RunStatus
from automations.service import sweep as sweep_module
from simulator import SweepSimulator, failing
from support import start_sweep

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)


@pytest.fixture
def frozen():
    moving = clock.MovableClock(T0, frozen=True)
    previous = clock.get_clock()
    clock.set_clock(moving)
    yield moving
    clock.set_clock(previous)


@pytest.fixture
def env(aws, frozen, monkeypatch):
    import boto3

    from automations import bootstrap

    monkeypatch.setenv("SWEEP_QUEUE_URL", aws.queue_url("SweepQueue"))
    boto3.client("ses").verify_email_identity(EmailAddress="automations@example.com")
    services = bootstrap.services()
    account, _ = services.accounts.create_account("Acme", "owner@acme.test")
    users = DynamoUserStore(boto3.client("dynamodb"), aws.physical_name("Table"))
    return SweepSimulator(bootstrap, services, account, frozen, users)


def sent_emails():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_default_rule_closes_four_days_after_solved(env):
    ticket = env.ticket(subject="Printer", status="open")
    env.clock.advance(3600)
    solved = env.change(ticket, status="solved")
    env.clock.set(solved.updated_at + timedelta(hours=95, minutes=59))
    env.sweep()
    assert env.get(ticket).status == "solved" and env.runs(ticket) == []
    env.clock.set(solved.updated_at + timedelta(hours=97))
    sweep_id, _ = env.sweep()
    closed = env.get(ticket)
    assert closed.status == "closed" and closed.automation_updates == 1
    [run] = env.runs(ticket)
    assert run.status is RunStatus.SUCCEEDED and run.automation_id == 1 and run.changes == {"status": "closed"}
    assert run.occurrence == f"sweep:{sweep_module.cycle_of(env.clock.now())}"
    audit = env.tickets.list_audits(env.account.id, ticket.id)[-1]
    assert audit.via.source["from"] == {"id": 1, "title": "Close ticket 4 days after status is set to solved"}
    assert env.bootstrap.services().sweep_summary(sweep_id) == {"tickets_evaluated": 1, "automations_fired": 1,
                                                     "tickets_updated": 1, "notifications_sent": 0,
                                                     "firings_failed": 0, "tickets_failed": 0, "shards_started": 8,
                                                     "shards_done": 8}
    # closed tickets leave the sweep index and are never touched again
    env.clock.advance(3600)
    assert env.bootstrap.services().sweep_summary(env.sweep()[0])["tickets_evaluated"] == 0


def test_a_cycles_summary_is_kept_in_parts_so_no_one_key_takes_every_tasks_write(env):
    from collections import Counter

    from automations.adapters.dynamo_sweep import sum_summary_parts, summary_key, summary_sweep_id
    from automations.adapters.shards import SUMMARY_SHARDS, shard_of
    from automations.adapters.table import Table

    shares = Counter(shard_of(f"account-{a}#{shard}", SUMMARY_SHARDS) for a in range(500) for shard in range(8))
    assert len(shares) == SUMMARY_SHARDS and max(shares.values()) < 2 * 4000 / SUMMARY_SHARDS
    keys = [summary_key("sweep_1", shard) for shard in range(SUMMARY_SHARDS)]
    assert len({key["PK"]["S"] for key in keys}) == SUMMARY_SHARDS
    assert {summary_sweep_id(key) for key in keys} == {"sweep_1"}
    env.ticket(status="open")
    sweep_id, _ = env.sweep()
    items = Table(boto3_client("dynamodb"), env.bootstrap.config.table_name()).batch_get(
        [summary_key(sweep_id, shard) for shard in range(SUMMARY_SHARDS)])
    assert len(items) > 1  # 8 shard tasks and the coordinator's page, spread over the parts
    assert sum_summary_parts(items) == env.bootstrap.services().sweep_summary(sweep_id)
    assert env.bootstrap.services().sweep_summary(sweep_id)["shards_done"] == 8


def escalation(env):
    return env.rule("Escalate", [("status", "is", "open"), ("OPEN", "greater_than", "2")], [("priority", "urgent")])


def test_the_same_task_twice_applies_once(env):
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(3)]
    env.clock.advance(3 * 3600)
    _, tasks = env.sweep()
    versions = [env.get(t).version for t in tickets]
    worker = env.bootstrap.services().sweep_worker
    for task in tasks:  # SQS delivered every message a second time
        worker.process(task, lambda: True)
    assert [env.get(t).version for t in tickets] == versions
    assert all(len(env.runs(t)) == 1 for t in tickets)


def test_concurrent_duplicate_workers_apply_once(env):
    env.rule("Notify", [("status", "is", "open"), ("OPEN", "greater_than", "2")],
             [("current_tags", "escalated"), ("notification_user", ["requester_id", "Late", "Ticket {{ticket.id}}"])])
    requester = env.users.add(_user(env, "rita@example.com"))
    tickets = [env.ticket(status="open", requester_id=requester.id) for _ in range(6)]
    env.clock.advance(3 * 3600)
    before = len(sent_emails())
    _, tasks = start_sweep(env.bootstrap)
    from automations.service.sweep import SweepWorker

    def run_all():
        worker = SweepWorker(**env.bootstrap.services().sweep_worker.__dict__)
        for task in tasks:
            worker.process(task, lambda: True)

    threads = [threading.Thread(target=run_all) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(len(env.runs(t)) == 1 and env.get(t).tags == ("escalated",) for t in tickets)
    assert len(sent_emails()) - before == 6


def _user(env, email):
    from automations.domain.user import Role, User

    return User(account_id=env.account.id, id=env.users.allocate_id(env.account.id), name="Rita", email=email,
                role=Role.END_USER, created_at=env.clock.now())


def test_a_worker_failing_mid_page_is_retried_without_doubles(env):
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(8)]
    env.clock.advance(3 * 3600)
    _, tasks = start_sweep(env.bootstrap)
    worker = env.bootstrap.services().sweep_worker
    real_commit, commits = worker.firings.commit, []

    def crash_after_two(*args, **kwargs):
        if len(commits) == 2:  # an outage stops the task, for SQS to redeliver
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")
        commits.append(1)
        return real_commit(*args, **kwargs)

    crashing = dataclasses.replace(worker, firings=failing(worker.firings, commit=crash_after_two))
    with pytest.raises(ClientError):
        for task in tasks:
            crashing.process(task, lambda: True)
    for task in tasks:  # SQS redelivers: every task again from its start
        worker.process(task, lambda: True)
    assert all(env.get(t).priority == "urgent" and len(env.runs(t)) == 1 for t in tickets)


def test_a_throttled_task_goes_on_later_as_a_new_message_from_its_page_counting_each_ticket_once(env):
    """DynamoDB throttles the third firing's commit: the task is not failed for SQS to redeliver
    (30 minutes later, one of its 5 receives) but handed on from its page's start, 30 s later, as
    a new message; what it did counts, and the rest fires each ticket once."""
    from automations.errors import THROTTLED_TASK_WAIT_S

    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(8)]
    env.clock.advance(3 * 3600)
    sweep_id, tasks = start_sweep(env.bootstrap)
    worker = env.bootstrap.services().sweep_worker
    real_commit, commits, handed_on = worker.firings.commit, [], []

    def throttle_the_third(*args, **kwargs):
        commits.append(1)
        if len(commits) == 3:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "TransactWriteItems")
        return real_commit(*args, **kwargs)

    throttled = dataclasses.replace(worker, firings=failing(worker.firings, commit=throttle_the_third),
                                    queue=failing(worker.queue, send=lambda messages, delay_s=0: handed_on.append(
                                        (messages, delay_s))))
    for task in tasks:
        throttled.process(task, lambda: True)
    [([rest], wait)] = handed_on
    assert wait == THROTTLED_TASK_WAIT_S and rest.start == next(t for t in tasks if t.shard == rest.shard).start
    worker.process(rest, lambda: True)
    assert all(env.get(t).priority == "urgent" and len(env.runs(t)) == 1 for t in tickets)
    summary = env.bootstrap.services().sweep_summary(sweep_id)
    assert summary["automations_fired"] == 8 and summary["tickets_updated"] == 8 and summary["shards_done"] == 8


def test_later_automations_see_earlier_changes_in_position_order(env):
    env.rule("Raise", [("status", "is", "open"), ("OPEN", "greater_than", "1")], [("priority", "high")])
    env.rule("Tag high", [("status", "is", "open"), ("OPEN", "greater_than", "1"), ("priority", "is", "high")],
             [("current_tags", "hot")])
    ticket = env.ticket(status="open")
    env.clock.advance(2 * 3600)
    env.sweep()
    swept = env.get(ticket)
    assert (swept.priority, swept.tags) == ("high", ("hot",))
    assert sorted(r.automation_id for r in env.runs(ticket)) == [2, 3]
    assert len(env.tickets.list_audits(env.account.id, ticket.id)) == 3  # creation + one per firing


def test_a_rule_without_nullifying_action_fires_again_next_hour(env):
    requester = env.users.add(_user(env, "rita@example.com"))
    env.rule("Remind", [("status", "is", "pending"), ("PENDING", "greater_than", "1")],
             [("notification_user", ["requester_id", "Waiting on you: {{ticket.title}}",
                                     "Hi {{ticket.requester.name}}, ticket #{{ticket.id}} is {{ticket.status}}."])])
    ticket = env.ticket(status="pending", subject="Invoice", requester_id=requester.id)
    before = len(sent_emails())
    env.clock.advance(2 * 3600)
    env.sweep()
    env.sweep()  # the same hour again: nothing more
    env.clock.advance(3600)
    env.sweep()
    mails = sent_emails()[before:]
    assert [m.subject for m in mails] == ["Waiting on you: Invoice"] * 2
    assert mails[0].body == f"Hi Rita, ticket #{ticket.id} is pending."
    assert len(env.runs(ticket)) == 2


def test_an_automation_fires_on_at_most_the_cap_per_cycle(env, monkeypatch):
    monkeypatch.setattr(sweep_module, "MAX_TICKETS_PER_AUTOMATION", 3)
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(5)]
    env.clock.advance(3 * 3600)
    env.sweep()
    assert sum(env.get(t).priority == "urgent" for t in tickets) == 3
    env.clock.advance(3600)
    env.sweep()
    assert all(env.get(t).priority == "urgent" for t in tickets)


def test_a_ticket_is_updated_by_automations_at_most_100_times(env):
    env.rule("Tick", [("status", "is", "open"), ("OPEN", "greater_than", "0")], [("current_tags", "x")])
    worn = env.ticket(status="open")
    item = env.get(worn)
    from dataclasses import replace

    env.tickets.replace(item, replace(item, automation_updates=100), Audit.of(item, item, author_id=None, via=API))
    env.clock.advance(3600)
    env.sweep()
    assert env.get(worn).tags == ()


def test_large_shards_continue_in_a_new_task(env, monkeypatch):
    monkeypatch.setattr(sweep_module, "PAGE_SIZE", 2)
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(40)]
    env.clock.advance(3 * 3600)
    _, tasks = start_sweep(env.bootstrap)
    worker, continuations = env.bootstrap.services().sweep_worker, 0
    for task in tasks:
        while task is not None:
            task = worker.process(task, has_time=lambda: False).rest  # always out of time after a page
            continuations += task is not None
    assert continuations > 0
    assert all(env.get(t).priority == "urgent" for t in tickets)


def test_deleted_account_tasks_are_dropped(env):
    from automations.domain.sweep import SweepTask

    done = env.bootstrap.services().sweep_worker.process(
        SweepTask("s", "2026-03-02T08", T0.isoformat(), "acc_gone", 0), lambda: True)
    assert (done.done.tickets_evaluated, done.rest) == (0, None)


def test_zendesk_usage_sorts_count_real_firings(env):
    from support import basic_auth, http_event, invoke

    _, key = env.services.accounts.create_key(env.account.id)
    auth = basic_auth(env.account.email, key)
    env.rule("Rarely", [("status", "is", "open"), ("OPEN", "greater_than", "2"), ("priority", "is", "low")],
             [("current_tags", "rare")])
    env.rule("Often", [("status", "is", "open"), ("OPEN", "greater_than", "2"), ("priority", "is", "high")],
             [("current_tags", "often")])
    env.ticket(status="open", priority="low")
    for _ in range(3):
        env.ticket(status="open", priority="high")
    env.clock.advance(3 * 3600)
    env.sweep()

    def titles(sort_by, **extra):
        status, _, body = invoke("zendesk_list_automations", http_event(
            "GET", "/api/v2/automations.json", query={"sort_by": sort_by, **extra}, authorization=auth))
        assert status == 200
        return [a["title"] for a in body["automations"]]

    default = "Close ticket 4 days after status is set to solved"
    assert titles("usage_1h") == ["Often", "Rarely", default]
    assert titles("usage_7d", sort_order="asc") == [default, "Rarely", "Often"]
    paged = invoke("zendesk_list_automations", http_event(
        "GET", "/api/v2/automations.json", query={"sort_by": "usage_24h", "page[size]": "1"}, authorization=auth))[2]
    assert [a["title"] for a in paged["automations"]] == ["Often"] and paged["meta"]["has_more"]
    env.clock.advance(2 * 3600)  # the firings leave the last hour's window
    assert titles("usage_1h") == [default, "Rarely", "Often"]  # all zero: position order


def test_more_firings_than_one_transaction_holds_finish_next_hour(env):
    for i in range(40):
        env.rule(f"Tag {i}", [("status", "is", "open"), ("OPEN", "greater_than", "1")], [("current_tags", f"t{i}")])
    ticket = env.ticket(status="open")
    env.clock.advance(2 * 3600)
    env.sweep()
    first = env.get(ticket)
    assert len(first.tags) == 24  # 1 ticket item + 24 firings x (audit, run, cap, the tag's counter) = 97
    assert len(env.runs(ticket)) == 24
    env.clock.advance(3600)
    env.sweep()
    assert len(env.get(ticket).tags) == 40


# -- poison records: each fails alone, visibly; the rest of the shard goes on -------------------

def _stored_as(env, automation, **poison):
    """Rewrite ``automation`` in the table below every check, as a record stored before
    today's checks (or written some other way) can be."""
    import dataclasses

    from automations.adapters.dynamo import DynamoAutomationStore

    store = DynamoAutomationStore(boto3_client("dynamodb"), env.bootstrap.config.table_name())
    store.replace(automation, dataclasses.replace(automation, **poison), 500)


def _greeting(env):
    return env.rule("Greet", [("status", "is", "open"), ("OPEN", "greater_than", "2")],
                    [("priority", "urgent"), ("notification_user", ["requester_id", "About {{ticket.title}}", "Hi"])])


def test_a_5000_digit_recipient_fails_its_firings_alone(env, caplog):
    requester = env.users.add(_user(env, "rita@example.com"))
    _greeting(env)
    poisoned = env.rule("Tag", [("status", "is", "open"), ("OPEN", "greater_than", "2")], [("current_tags", "seen")])
    _stored_as(env, poisoned, actions=(*poisoned.actions, Action("notification_user", ("5" * 5000, "s", "b"))))
    tickets = [env.ticket(subject=f"Printer {i}", status="open", requester_id=requester.id) for i in range(8)]
    env.clock.advance(3 * 3600)
    sweep_id, _ = env.sweep()
    summary = env.bootstrap.services().sweep_summary(sweep_id)
    assert summary["automations_fired"] == 8 and summary["firings_failed"] == 8 and summary["shards_done"] == 8
    assert sorted(m.subject for m in sent_emails()[-8:]) == sorted(f"About Printer {i}" for i in range(8))
    for ticket in tickets:  # the other automation fired on every ticket; the poisoned one failed, saying why
        runs = {run.automation_id: run for run in env.runs(ticket)}
        assert runs[poisoned.id].status is RunStatus.FAILED and "is not a user id" in runs[poisoned.id].error
        assert runs[poisoned.id].history[-1]["status"] == "failed" and env.get(ticket).priority == "urgent"
    failed = env.services.runs.list(env.account.id, status=RunStatus.FAILED, limit=100)[0]
    assert {run.automation_id for run in failed} == {poisoned.id} and len(failed) == 8
    assert any(f"automation_id={poisoned.id}" in r.getMessage() and f"account_id={env.account.id}" in r.getMessage()
               for r in caplog.records)


def test_a_lone_surrogate_in_a_title_is_rendered_and_sent(env):
    requester = env.users.add(_user(env, "rita@example.com"))
    _greeting(env)
    poison = env.ticket(subject="Broken \ud83d screen", status="open", requester_id=requester.id)
    others = [env.ticket(subject=f"Printer {i}", status="open", requester_id=requester.id) for i in range(3)]
    env.clock.advance(3 * 3600)
    sweep_id, _ = env.sweep()
    assert env.bootstrap.services().sweep_summary(sweep_id)["automations_fired"] == 4
    assert "About Broken \ufffd screen" in [m.subject for m in sent_emails()]
    assert all(env.get(t).priority == "urgent" and env.runs(t)[0].status is RunStatus.SUCCEEDED
               for t in [poison, *others])


def _make_unreadable(env, ticket):
    """A stored status no ticket may have: reading it back raises."""
    boto3_client("dynamodb").update_item(
        TableName=env.bootstrap.config.table_name(),
        Key={"PK": {"S": f"ACCOUNT#{env.account.id}"}, "SK": {"S": f"TICKET#{ticket.id:012d}"}},
        UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"S": _document_with(env.get(ticket), status="lost")}})


def test_a_ticket_that_cannot_be_read_fails_alone_and_is_counted(env, caplog):
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(8)]
    poison = env.ticket(status="open")
    _make_unreadable(env, poison)
    env.clock.advance(3 * 3600)
    sweep_id, _ = env.sweep()
    summary = env.bootstrap.services().sweep_summary(sweep_id)
    assert summary["tickets_failed"] == 1 and summary["automations_fired"] == 8 and summary["shards_done"] == 8
    assert all(env.get(t).priority == "urgent" for t in tickets)
    assert any(f"ticket_id={poison.id}" in r.getMessage() and f"account_id={env.account.id}" in r.getMessage()
               for r in caplog.records)


def _document_with(ticket, **values):
    import json

    from automations.adapters.dynamo_tickets import ticket_to_document

    return json.dumps({**ticket_to_document(ticket), **values})


def test_a_firing_that_cannot_be_committed_is_recorded_failed_and_the_shard_goes_on(env):
    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(8)]
    poison = tickets[3]
    shared = env.bootstrap.services().sweep_worker
    real_commit = shared.firings.commit

    def refuse_one(old, *args, **kwargs):
        if old.id == poison.id:  # what DynamoDB answers an item it can never hold
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the "
                                         "maximum allowed size"}}, "TransactWriteItems")
        return real_commit(old, *args, **kwargs)

    worker = dataclasses.replace(shared, firings=failing(shared.firings, commit=refuse_one))
    env.clock.advance(3 * 3600)
    sweep_id, _ = env.sweep(worker)
    summary = env.bootstrap.services().sweep_summary(sweep_id)
    assert summary["tickets_failed"] == 1 and summary["firings_failed"] == 1 and summary["automations_fired"] == 7
    [failed] = env.runs(poison)
    assert failed.status is RunStatus.FAILED and "Item size has exceeded" in failed.error and failed.changes == {}
    assert env.get(poison).priority != "urgent"
    assert all(env.get(t).priority == "urgent" for t in tickets if t.id != poison.id)
    env.sweep(worker)  # the same cycle again (a redelivered task): the failure is not retried
    assert len(env.runs(poison)) == 1 and env.get(poison).priority != "urgent"


def test_an_automation_that_cannot_be_compiled_is_left_out_alone(env, caplog):
    escalation(env)
    broken = env.rule("Broken", [("status", "is", "open"), ("OPEN", "greater_than", "2")], [("current_tags", "x")])
    _stored_as(env, broken, conditions=Conditions(all=(Condition("status", "resembles", "open"),)))
    tickets = [env.ticket(status="open") for _ in range(3)]
    env.clock.advance(3 * 3600)
    env.sweep()
    assert all(env.get(t).priority == "urgent" and "x" not in env.get(t).tags for t in tickets)
    assert any(f"automation_id={broken.id}" in r.getMessage() for r in caplog.records)


def test_a_crash_between_the_commit_and_the_sending_leaves_the_mail_to_the_relay(env):
    requester = env.users.add(_user(env, "rita@example.com"))
    _greeting(env)
    ticket = env.ticket(subject="Printer", status="open", requester_id=requester.id)
    shared = env.bootstrap.services().sweep_worker

    def die(deliveries):
        raise ConnectionError("the worker died right after the commit")

    env.clock.advance(3 * 3600)
    with pytest.raises(ConnectionError):
        env.sweep(dataclasses.replace(shared, notifier=failing(shared.notifier, dispatch=die)))
    assert env.get(ticket).priority == "urgent" and not any(m.subject == "About Printer" for m in sent_emails())
    env.sweep()  # the task again (SQS redelivers it): the ticket is done for this cycle
    assert env.bootstrap.services().deliveries.relay() == 1  # the hourly relay sends what the crash left
    assert [m.subject for m in sent_emails()].count("About Printer") == 1 and len(env.runs(ticket)) == 1
def test_a_worker_out_of_time_mid_page_hands_on_from_the_next_ticket(env, aws):
    from test_sweep_coordinator import take_all

    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(24)]  # 3 a shard: one page each
    env.clock.advance(3 * 3600)
    _, tasks = start_sweep(env.bootstrap)
    worker, calls, evaluated = env.bootstrap.services().sweep_worker, 0, 0
    for task in tasks:
        while task is not None:
            done = worker.process(task, has_time=lambda: False)  # out of time after each ticket
            task, calls, evaluated = done.rest, calls + 1, evaluated + done.done.tickets_evaluated
    assert all(env.get(t).priority == "urgent" for t in tickets)
    assert evaluated == 24 and calls == 24  # one ticket a call, none read twice
    sent = take_all(aws, "SweepQueue")  # the coordinator's tasks, and each rest the worker handed on
    assert len(sent) == calls and sum(body["start"] is not None for body in sent) == calls - len(tasks)


def _same_shard_tickets(env, count):
    """``count`` open tickets of one sweep shard, in position order."""
    from automations.domain.ticket import sweep_shard

    made = [env.ticket(status="open") for _ in range(8 * count)]
    return [t for t in made if sweep_shard(t.id) == sweep_shard(made[0].id)][:count]


def _shard_task(env, ticket):
    """The started sweep's task over the shard of ``ticket``."""
    from automations.domain.ticket import sweep_shard

    _, tasks = start_sweep(env.bootstrap)
    [task] = [t for t in tasks if t.shard == sweep_shard(ticket.id)]
    return task


def _to_the_end(worker, task, has_time=lambda: True):
    while task is not None:
        task = worker.process(task, has_time).rest


def test_a_ticket_that_cannot_be_read_just_before_the_worker_runs_out_of_time_fails_alone(env):
    """The worker runs out of time right after a ticket that cannot be read: the rest of the
    shard is handed on from after that ticket, and the next ticket is swept (the task does not
    fail on every delivery, sending the shard's rest to the dead-letter queue)."""
    escalation(env)
    poison, good = _same_shard_tickets(env, 2)
    _make_unreadable(env, poison)
    env.clock.advance(3 * 3600)
    task = _shard_task(env, poison)
    _to_the_end(env.bootstrap.services().sweep_worker, task, has_time=lambda: False)  # out of time after each ticket
    assert env.get(good).priority == "urgent"


def test_an_automation_deactivated_while_its_cycle_runs_fires_no_more(env):
    """A warm worker has swept a shard's first ticket and handed the rest on; the automation is
    then deactivated: the rest of the cycle does not fire it (as a cold worker would not)."""
    from automations.domain.model import AutomationChanges

    rule = escalation(env)
    first, second = _same_shard_tickets(env, 2)
    env.clock.advance(3 * 3600)
    worker = env.bootstrap.services().sweep_worker
    done = worker.process(_shard_task(env, first), has_time=lambda: False)  # one ticket, the rest handed on
    assert env.get(first).priority == "urgent" and done.rest is not None
    env.services.automations.update(env.account.id, rule.id, AutomationChanges(active=False))
    _to_the_end(worker, done.rest)
    assert env.get(second).priority != "urgent" and env.runs(second) == []


def test_an_automation_edited_while_its_cycle_runs_fires_as_edited(env):
    """A warm worker has swept a shard's first ticket and handed the rest on; the automation's
    actions are then edited: the rest of the cycle fires the new actions."""
    from automations.domain.model import AutomationChanges

    rule = escalation(env)
    first, second = _same_shard_tickets(env, 2)
    env.clock.advance(3 * 3600)
    worker = env.bootstrap.services().sweep_worker
    done = worker.process(_shard_task(env, first), has_time=lambda: False)
    env.services.automations.update(env.account.id, rule.id, AutomationChanges(actions=(Action("priority", "low"),)))
    _to_the_end(worker, done.rest)
    assert env.get(first).priority == "urgent" and env.get(second).priority == "low"


def test_a_firing_is_dated_when_it_is_written_not_at_the_cycles_start(env):
    """The cycle starts, an agent changes the ticket 5 minutes later and the worker fires on it
    5 minutes after that: the firing's change and audit are dated when it was written, after the
    agent's change, not at the cycle's reference instant before it."""
    escalation(env)
    ticket = env.ticket(status="open")
    env.clock.advance(3 * 3600)
    _, tasks = start_sweep(env.bootstrap)
    env.clock.advance(300)
    agents = env.change(ticket, tags=("vip",))
    env.clock.advance(300)
    for task in tasks:
        _to_the_end(env.bootstrap.services().sweep_worker, task)
    swept = env.get(ticket)
    assert swept.priority == "urgent" and swept.tags == ("vip",)
    assert swept.updated_at == env.clock.now() > agents.updated_at
    assert env.tickets.list_audits(env.account.id, ticket.id)[-1].created_at == swept.updated_at


def test_the_incremental_export_shows_a_firing_made_after_a_clients_poll(env):
    """A client polls the incremental export minutes into a cycle, after another ticket changed;
    the worker then fires on a ticket: the client's next poll, from its cursor, shows it."""
    escalation(env)
    ticket = env.ticket(status="open")
    other = env.ticket(status="new")
    env.clock.advance(3 * 3600)
    _, tasks = start_sweep(env.bootstrap)
    env.clock.advance(300)
    env.change(other, subject="Later")
    env.clock.advance(60)
    polled = env.services.tickets.changed_since(env.account.id, start=T0)
    assert [t.id for t in polled.records][-1] == other.id
    env.clock.advance(240)
    for task in tasks:
        _to_the_end(env.bootstrap.services().sweep_worker, task)
    assert env.get(ticket).priority == "urgent"
    env.clock.advance(60)
    later = env.services.tickets.changed_since(env.account.id, cursor=polled.after_cursor)
    assert ticket.id in [t.id for t in later.records]


def test_a_throttled_usage_count_after_the_commit_neither_holds_the_mail_nor_fails_the_task(env, caplog):
    """DynamoDB throttles the firing's usage counter (Zendesk's usage sorts, best-effort), written
    after the firing's commit: the task goes on, the mail is sent at once rather than left to
    the hourly relay, the sweep counts the firing, and the lost count is logged with its run."""
    from support import Refusal, error_answer

    requester = env.users.add(_user(env, "rita@example.com"))
    _greeting(env)
    ticket = env.ticket(subject="Printer", status="open", requester_id=requester.id)
    env.clock.advance(3 * 3600)
    with Refusal(boto3_client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: b"#USAGE#" in request["body"]) as refusal:
        sweep_id, _ = env.sweep()  # no task fails
    assert refusal.refused == 1 and env.get(ticket).priority == "urgent"
    assert [m.subject for m in sent_emails()].count("About Printer") == 1
    assert env.bootstrap.services().sweep_summary(sweep_id)["automations_fired"] == 1
    [run] = env.runs(ticket)
    assert any("usage" in r.getMessage() and run.id in r.getMessage() for r in caplog.records)


def test_a_throttled_summary_write_loses_no_counts(env):
    """DynamoDB throttles a task's addition to the sweep's summary (past botocore's own retries):
    the addition is tried again, so the cycle's summary still counts every firing (a redelivered
    task would find its tickets swept and count none of them)."""
    from support import Refusal, error_answer

    escalation(env)
    tickets = [env.ticket(status="open") for _ in range(8)]
    env.clock.advance(3 * 3600)
    sweep_id, tasks = start_sweep(env.bootstrap)
    worker = env.bootstrap.services().sweep_worker
    with Refusal(boto3_client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: b'"SWEEP#' in request["body"]) as refusal:
        for task in tasks:
            _to_the_end(worker, task)
    assert refusal.refused == 1 and all(env.get(t).priority == "urgent" for t in tickets)
    summary = env.bootstrap.services().sweep_summary(sweep_id)
    assert summary["automations_fired"] == summary["tickets_updated"] == 8 and summary["shards_done"] == 8


def test_tag_counters_move_with_firings_and_a_firing_past_the_tag_limit_fails_alone(env):
    """The sweep's tag changes move the tag counters in the firing's transaction; one that would
    leave a ticket more tags than it holds fails as a run and changes nothing, and the rule after
    it still fires."""
    from automations.domain.run import RunStatus

    many = " ".join(f"t{i}" for i in range(40))
    env.rule("Too many", [("status", "is", "open"), ("OPEN", "greater_than", "1")], [("current_tags", many)])
    env.rule("Tag", [("status", "is", "open"), ("OPEN", "greater_than", "1")], [("current_tags", "swept")])
    ticket = env.ticket(status="open", tags=tuple(f"old{i}" for i in range(10)))
    env.clock.advance(2 * 3600)
    env.sweep()
    swept = env.get(ticket)
    assert "swept" in swept.tags and "t0" not in swept.tags and len(swept.tags) == 11
    runs = {r.automation_id: r for r in env.runs(ticket)}
    assert runs[2].status is RunStatus.FAILED and "at most 48" in runs[2].error
    assert runs[3].status is not RunStatus.FAILED
    counts = env.tickets.tag_counts(env.account.id)
    assert counts == {**{f"old{i}": 1 for i in range(10)}, "swept": 1}
