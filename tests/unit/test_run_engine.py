"""The run engine over moto: runs created once per trigger, scheduled on EventBridge Scheduler or
queued, executed exactly once, cancelled, chained into series, expanded from recurring and
date-field rules, retried, and re-driven when a schedule is lost."""
import json
import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import boto3
import pytest

from automations import clock, config
from automations.domain.contact_rules import (
    ActionKind, ClockTime, ContactRule, DateFieldTrigger, Delay, Recurrence, RuleAction, SendWindow,
)
from automations.domain.contacts import GroupKind
from automations.domain.delivery import Channel
from automations.domain.messages import run_queue_message
from automations.domain.model import SubjectKind, Trigger
from automations.domain.run import RunStatus
from automations.errors import Conflict, NotFound
from simulator import NY, T0


def test_a_join_schedules_one_run_at_the_windowed_due_time_across_dst(env):
    env.rule(env.send_email(), delay=Delay(2, 3, 0), window=SendWindow(ClockTime(9 * 60), ClockTime(17 * 60)))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    # Saturday 08:00 EDT + 51 elapsed hours, across the autumn change's extra hour, is Monday
    # 10:00 EST (15:00 UTC): inside the window.
    assert run.status is RunStatus.SCHEDULED and run.due_at == datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    [schedule] = env.schedules()
    assert schedule["Name"] == run.id and schedule["ScheduleExpression"] == "at(2026-11-02T15:00:00)"
    assert schedule["ActionAfterCompletion"] == "DELETE" and schedule["Target"]["DeadLetterConfig"]["Arn"]
    assert json.loads(schedule["Target"]["Input"]) == {"account_id": env.account, "run_id": run.id}

    env.clock.set(run.due_at - timedelta(minutes=5))
    assert env.executor.execute(env.account, run.id).status is RunStatus.SCHEDULED  # early: nothing happens
    assert env.sent() == []
    env.clock.set(run.due_at)
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED
    [mail] = env.sent()
    assert (mail["recipient"], mail["subject"], mail["body"]) == ("ann@example.com", "Hi Ann", "Welcome, Ann! ")
    assert env.executor.execute(env.account, run.id).status is RunStatus.SUCCEEDED  # a second delivery: no-op
    assert len(env.sent()) == 1 and len(env.sent("event")) == 1  # automation.run.succeeded, once
    assert [h["event"] for h in env.services.runs.get(env.account, run.id).history] == \
        ["scheduled", "started", "succeeded"]


@pytest.mark.parametrize("timing_, joined, due", [
    ({"delay": Delay(0, 0, 1)}, T0, T0 + timedelta(minutes=1)),
    ({"window": SendWindow(ClockTime(9 * 60), ClockTime(17 * 60))}, datetime(2026, 11, 2, 8, 59, 10, tzinfo=NY),
     datetime(2026, 11, 2, 9, 0, tzinfo=NY)),
], ids=["a one-minute delay", "a join 50 s before the window opens"])
def test_a_short_wait_is_held_in_the_run_queue_and_never_ends_early(env, timing_, joined, due):
    env.rule(env.send_email(), **timing_)
    env.clock.set(joined)
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    assert run.due_at == due and env.schedules() == []  # an SQS delay, not a schedule
    for moment, sent in ((joined, 0), (due - timedelta(microseconds=1), 0), (due, 1)):
        env.clock.set(moment)
        env.drain()
        assert len(env.sent()) == sent, moment
    assert env.services.runs.get(env.account, run.id).status is RunStatus.SUCCEEDED


def test_a_run_delivered_early_waits_for_the_rest_of_its_time(env):
    env.rule(env.send_email(), delay=Delay(0, 0, 10))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    env.clock.set(run.due_at - timedelta(seconds=5))
    # Delivered early (a duplicate message, a re-drive, a schedule): it is handed on for the 5 s left.
    assert env.executor.execute(env.account, run.id).status is RunStatus.SCHEDULED and env.sent() == []
    env.clock.set(run.due_at - timedelta(milliseconds=1))
    assert env.drain() == []
    env.clock.set(run.due_at)
    done = env.drain()  # the first message and the one handed on: one execution, one no-op
    assert len(done) == 2 and {r.status for r in done} == {RunStatus.SUCCEEDED} and len(env.sent()) == 1
    assert [h["event"] for h in env.services.runs.get(env.account, run.id).history] == \
        ["scheduled", "started", "succeeded"]


def test_one_time_schedules_never_round_down():
    from automations.adapters.scheduler import at_expression

    # Scheduler's at() is to the second: rounded up, never down.
    assert at_expression(datetime(2027, 3, 14, 7, 30, 0, 1, tzinfo=timezone.utc)) == "at(2027-03-14T07:30:01)"
    assert at_expression(datetime(2027, 3, 14, 7, 30, tzinfo=NY)) == "at(2027-03-14T11:30:00)"


def test_a_late_join_waits_for_the_next_opening_in_the_contacts_own_zone(env):
    env.rule(env.send_email(), window=SendWindow(ClockTime(9 * 60), ClockTime(17 * 60)))
    tokyo = env.contact(timezone="Asia/Tokyo")  # 08:00 New York is 21:00 in Tokyo: after closing
    env.join(tokyo)
    [run] = env.runs(tokyo)
    assert run.due_at == datetime(2026, 11, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_a_join_without_delay_or_window_runs_at_once_through_the_queue(env):
    env.rule(env.send_email())
    ann = env.contact()
    env.join(ann)
    assert env.schedules() == []
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1


def test_duplicate_triggers_make_one_run(env):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    ann = env.contact()
    env.join(ann)
    event, _ = env.services.contact_events.since(env.account)
    env.launcher.on_contact_events(event)  # the same join replayed (a retry, a catch-up)
    env.launcher.on_contact_events(event)
    assert len(env.runs(ann)) == 1 and len(env.schedules()) == 1


def test_a_cancel_automation_cancels_the_scheduled_send_and_its_schedule(env):
    env.rule(env.send_email(), delay=Delay(1, 0, 0))
    buyers = env.services.contact_lists.create(env.account, "Buyers")
    env.rule(RuleAction(ActionKind.CANCEL_EMAIL, template_ids=(env.email.id,)), source_id=buyers.id)
    ann = env.contact()
    env.join(ann)
    [scheduled] = env.runs(ann)
    env.join(ann, buyers)
    env.drain()  # the cancel automation's run
    assert env.services.runs.get(env.account, scheduled.id).status is RunStatus.CANCELLED
    assert env.schedules() == []
    env.clock.advance(2 * 86400)
    assert env.executor.execute(env.account, scheduled.id).status is RunStatus.CANCELLED
    assert env.sent() == []


def test_a_contact_who_left_the_list_is_skipped(env):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    ann = env.contact()
    env.join(ann)
    env.services.contact_lists.remove_member(env.account, env.list.id, ann.uuid)
    env.clock.advance(3600)
    [run] = env.fire_due_schedules()
    assert run.status is RunStatus.SKIPPED and "left" in run.error and env.sent() == []


def test_cancel_and_execute_racing_end_with_exactly_one_winner(env):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    outcomes = []
    for n in range(6):
        contact = env.contact(email=f"c{n}@example.com")
        env.join(contact)
        [run] = env.runs(contact)
        env.clock.set(run.due_at)
        results = {}
        go = threading.Barrier(2)

        def execute():
            go.wait()
            results["executed"] = env.executor.execute(env.account, run.id)

        def cancel():
            go.wait()
            try:
                results["cancelled"] = env.executor.cancel(env.account, run.id)
            except Conflict:
                results["cancelled"] = None

        threads = [threading.Thread(target=execute), threading.Thread(target=cancel)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        final = env.services.runs.get(env.account, run.id)
        sent = [d for d in env.sent() if d["recipient"] == contact.email]
        assert (final.status, len(sent)) in ((RunStatus.CANCELLED, 0), (RunStatus.SUCCEEDED, 1))
        outcomes.append(final.status)
        env.clock.set(T0)
    assert set(outcomes) <= {RunStatus.CANCELLED, RunStatus.SUCCEEDED}


def test_a_crash_between_send_and_record_never_sends_twice(env, monkeypatch):
    env.rule(env.send_email())
    ann = env.contact()
    env.join(ann)
    store = env.outbox
    original = store.finish
    crashes = []

    def crash_once(d, status, **kw):
        if not crashes:
            crashes.append(d.id)
            raise ConnectionError("the process died after SES accepted the mail")
        return original(d, status, **kw)

    monkeypatch.setattr(store, "finish", crash_once)
    [first] = env.drain()
    assert first.status is RunStatus.RUNNING and first.history[-1]["event"] == "retrying"
    env.clock.advance(600)  # the retry and the lease come due; the re-drive finds the run too
    assert env.executor.redrive().done == 1
    [again] = env.drain()
    assert again.status is RunStatus.SUCCEEDED
    [mail] = [d for d in _outbox(env, "email")]
    assert mail["status"] == "unconfirmed" and mail["attempts"] == 1 and len(_mails_to("ann@example.com")) == 1


def _outbox(env, channel):
    from automations_local.outbox import deliveries

    return deliveries(channel=channel, account_id=env.account)


def test_a_lost_schedule_is_redriven_by_the_upkeep(env):
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    env.scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=run.id)  # lost
    env.clock.set(run.due_at + timedelta(minutes=1))
    assert env.executor.redrive().done == 0  # within the grace: the schedule may still be coming
    env.clock.set(run.due_at + timedelta(minutes=10))
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1
    assert env.executor.redrive().done == 0  # finished runs leave the index


def test_a_run_whose_executor_died_in_its_attempt_is_taken_over_after_its_lease(env, monkeypatch):
    """The claim leaves the run at its due time in the DueIndex: the re-drive finds it while its
    executor holds it, and the executor leaves it alone until the lease ends; then it is taken
    over and sends once."""
    from automations.service.executing import LEASE

    class Killed(BaseException):
        """The process ends mid-attempt: nothing of the executor's own handling runs."""

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    env.scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=run.id)

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(env.executor, "_perform", killed)
    env.clock.set(run.due_at + timedelta(minutes=10))
    with pytest.raises(Killed):
        env.executor.execute(env.account, run.id)
    monkeypatch.undo()
    assert env.executor.redrive().done == 1  # found at its due time, though its lease lasts
    [held] = env.drain()
    assert held.status is RunStatus.RUNNING and held.attempts == 1 and env.sent() == []  # left alone
    env.clock.advance(LEASE.total_seconds())
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and done.attempts == 2 and len(env.sent()) == 1


def test_a_run_whose_executor_keeps_failing_is_dead_lettered_then_redriven(env, monkeypatch):
    """Scheduler invokes the executor asynchronously: an executor that fails for good (here, the
    table is unreachable) exhausts Lambda's retries, its invocation goes to the alarmed failure
    queue, the run stays waiting in the DueIndex, and the hourly re-drive finishes it."""
    from automations_local.scheduler import LocalScheduler

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    store = env.run_store
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("DynamoDB is unreachable")

    monkeypatch.setattr(store, "get", unreachable)
    scheduler = LocalScheduler(env.template, env.clock)
    env.clock.set(run.due_at)
    [fired] = [f for f in scheduler.tick() if f["schedule"] == run.id]
    assert fired["error"] == "ConnectionError: DynamoDB is unreachable"
    executor = env.template.functions["RunExecutorFunction"]
    assert len(calls) == 1 + executor.async_retries == 3
    url = env.sqs.get_queue_url(QueueName=env.template.physical_name("AsyncFailureQueue"))["QueueUrl"]
    [message] = env.sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert json.loads(message["Body"])["requestPayload"] == {"account_id": env.account, "run_id": run.id}
    assert env.schedules() == []  # the one-time schedule is gone: only the DueIndex remembers the run
    monkeypatch.undo()
    [waiting] = env.runs(ann)
    assert waiting.status is RunStatus.SCHEDULED
    env.clock.advance(600)
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1


def test_a_run_counts_itself_by_trigger_and_its_sends_by_channel_and_logs_with_its_ids(env, monkeypatch, capsys):
    from test_telemetry import captured_logs, emitted, metric

    from automations_local.lambdas import invoke

    monkeypatch.setenv("STACK_NAME", "automations-test")
    automation = env.rule(env.send_email())
    ann = env.contact()
    env.join(ann)  # due now: on the run queue
    [run] = env.runs(ann)
    store = env.run_store
    original, crashes = store.replace, []

    def crash_first_finish(old, new, *announcements):
        if new.status is RunStatus.SUCCEEDED and not crashes:
            crashes.append(new.id)
            raise ConnectionError("the table went away")
        return original(old, new, *announcements)

    monkeypatch.setattr(store, "replace", crash_first_finish)
    with captured_logs() as lines:
        invoke(env.template.functions["RunExecutorFunction"], {"account_id": env.account, "run_id": run.id})
        logged = lines()
    [failure] = [line for line in logged if line["message"].startswith(f"run {run.id} will be retried")]
    assert (failure["account_id"], failure["automation_id"], failure["run_id"]) == (env.account, automation.id, run.id)
    assert failure["function_name"] == env.template.functions["RunExecutorFunction"].name
    env.clock.advance(600)
    env.executor.execute(env.account, run.id)  # the retry
    documents = emitted(capsys.readouterr().out)
    [created] = metric(documents, "RunsCreated")
    assert (created["trigger"], created["run_id"], created["service"]) == ("list_joined", run.id, "automations-test")
    [succeeded] = metric(documents, "RunsSucceeded")
    assert succeeded["trigger"] == "list_joined" and succeeded["account_id"] == env.account
    sent = metric(documents, "DeliveriesSent")  # the mail, and the run's announcement on the bus
    assert sorted(d["channel"] for d in sent) == ["email", "event"]
    assert all(d["dimensions"] == ["service", "channel"] for d in sent)
    lateness = metric(documents, "FiringLateness")
    assert len(lateness) == 1 and lateness[0]["FiringLateness"] == [0.0]  # the retry is not lateness


def test_a_series_sends_each_step_on_its_day(env):
    series = env.services.templates.create(env.account, {"type": "series", "title": "Onboarding", "steps": [
        {"template_id": env.email.id, "delay_days": 0},
        {"template_id": env.email.id, "delay_days": 2},  # no time: 10:00
        {"template_id": env.email.id, "delay_days": 1, "hour": 3, "min": 30, "ampm": "pm", "weekdays_only": True},
    ]})
    env.rule(RuleAction(ActionKind.START_SERIES, template_id=series.id))
    ann = env.contact()
    env.join(ann)
    env.drain()  # the starting run plans step 0, due at once
    env.drain()
    due = []
    for _ in range(3):
        pending = [r for r in env.runs(ann, RunStatus.SCHEDULED)]
        if not pending:
            break
        [step] = pending
        due.append((step.step, step.due_at.astimezone(NY)))
        env.clock.set(step.due_at)
        env.fire_due_schedules()
        env.drain()
    assert due == [(1, datetime(2026, 11, 2, 10, 0, tzinfo=NY)),  # Saturday + 2 days: Monday 10:00
                   (2, datetime(2026, 11, 3, 15, 30, tzinfo=NY))]
    assert len(env.sent()) == 3
    steps = sorted(r.step for r in env.runs(ann) if r.step is not None)
    assert steps == [0, 1, 2]


def test_recurring_rules_get_their_next_firing_that_follows_them(env):
    weekly = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                      recurrence=Recurrence("monday", ClockTime(9 * 60), False))
    [schedule] = env.schedules()
    # Monday 09:00 EST, in UTC: the product, not Scheduler's cron, decides the instant.
    assert schedule["Name"].endswith(".2026-11-02") and schedule["ScheduleExpression"] == "at(2026-11-02T14:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC" and schedule["ActionAfterCompletion"] == "DELETE"
    assert json.loads(schedule["Target"]["Input"]) == {"account_id": env.account, "automation_id": weekly.id,
                                                       "day": "2026-11-02"}
    env.services.automations.update(env.account, weekly.id, _changes(active=False))
    assert env.schedules() == []
    env.services.automations.update(env.account, weekly.id, _changes(active=True))
    assert [s["Name"] for s in env.schedules()] == [schedule["Name"]]
    env.services.contact_automations.update(env.account, weekly.id, ContactRule(
        trigger=Trigger.RECURRING, source_kind=GroupKind.LIST, source_id=env.list.id, action=env.send_email(),
        recurrence=Recurrence("tuesday", ClockTime(8 * 60), False)))
    [moved] = env.schedules()  # the Monday firing is gone, the Tuesday one planned
    assert moved["Name"].endswith(".2026-11-03") and moved["ScheduleExpression"] == "at(2026-11-03T13:00:00)"
    env.services.automations.delete(env.account, weekly.id)
    assert env.schedules() == []


def test_a_recurring_firing_runs_each_member_once_and_only_on_its_days(env, monkeypatch):
    """A firing queues one expansion per member shard (side by side, not one long chain); each
    shard is read a page at a time."""
    from automations.adapters import dynamo_contacts
    from automations.adapters.dynamo_contacts import DynamoGroupStore

    monkeypatch.setattr(dynamo_contacts, "JOIN_SHARDS", 2)
    monkeypatch.setattr(DynamoGroupStore, "member_shards", 2)
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                     recurrence=Recurrence("daily", ClockTime(9 * 60), True))
    members = [env.contact(email=f"m{n}@example.com") for n in range(6)]
    env.services.contact_lists.add_members(env.account, env.list.id, [m.uuid for m in members])
    assert env.firings.expand(env.account, daily.id, day=date(2026, 10, 31)) is None  # weekday_only: no Saturday
    assert env.drain() == [] and env.runs() == []
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=NY)
    env.clock.set(monday)
    assert env.firings.expand(env.account, daily.id, day=monday.date()) is None  # the firing: its shards queued
    tasks = []
    while got := env.sqs.receive_message(QueueUrl=config.expand_queue_url(), MaxNumberOfMessages=10).get("Messages"):
        for m in got:
            tasks.append(json.loads(m["Body"]))
            env.sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])
    assert sorted(t["shard"] for t in tasks) == [0, 1] and {t["day"] for t in tasks} == {"2026-11-02"}
    pages = 0
    for task in tasks:
        cursor = None
        while (cursor := env.firings.expand(env.account, daily.id, day=monday.date(), shard=task["shard"],
                                            cursor=cursor, page_size=2)):
            pages += 1
    assert pages >= 1  # 6 members over 2 shards, 2 a page: one shard at least took two pages
    env.expand({"account_id": env.account, "automation_id": daily.id, "day": "2026-11-02"})  # a duplicate firing
    assert len({run.id for run in env.drain()}) == 6 and len(env.sent()) == 6 and len(env.runs()) == 6
    assert {r.due_at for r in env.runs()} == {monday}
    # The firing planned the next one, Tuesday (Monday's schedule was not the one that fired here).
    assert sorted(s["Name"][-10:] for s in env.schedules()) == ["2026-11-02", "2026-11-03"]


def test_a_daily_rule_at_a_time_the_spring_change_skips_fires_that_day_at_the_moved_time(env):
    env.clock.set(datetime(2027, 3, 12, 12, 0, tzinfo=NY))
    env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(150)))
    env.services.contact_lists.add_members(env.account, env.list.id, [env.contact().uuid])
    env.live_until(datetime(2027, 3, 16, 12, 0, tzinfo=NY))
    due = sorted((r.occurrence, r.due_at.astimezone(timezone.utc), r.status) for r in env.runs())
    # 14 March 2027: New York skips 02:00-03:00, and 02:30 moves forward by the gap, to 03:30 EDT.
    assert due == [("recurring:2027-03-13", datetime(2027, 3, 13, 7, 30, tzinfo=timezone.utc), RunStatus.SUCCEEDED),
                   ("recurring:2027-03-14", datetime(2027, 3, 14, 7, 30, tzinfo=timezone.utc), RunStatus.SUCCEEDED),
                   ("recurring:2027-03-15", datetime(2027, 3, 15, 6, 30, tzinfo=timezone.utc), RunStatus.SUCCEEDED),
                   ("recurring:2027-03-16", datetime(2027, 3, 16, 6, 30, tzinfo=timezone.utc), RunStatus.SUCCEEDED)]
    assert len(env.sent()) == 4


def test_the_hourly_check_fires_again_a_firing_whose_schedule_was_lost(env, monkeypatch):
    env.clock.set(datetime(2026, 11, 2, 8, 0, tzinfo=NY))
    monkeypatch.setattr(env.run_scheduler, "put_firing", _outage)
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60)))
    env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(7 * 60)))
    monkeypatch.undo()
    ann = env.contact()
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid])
    assert env.schedules() == []  # both writes were lost
    env.clock.set(datetime(2026, 11, 2, 9, 30, tzinfo=NY))
    assert env.firings.check_schedules(env.account) == 2
    assert sorted(s["Name"][-10:] for s in env.schedules()) == ["2026-11-03", "2026-11-03"]
    env.expansions()
    env.drain()
    # Today's 09:00 firing was lost and is made up for; the 07:00 one came before its automation.
    assert [(r.automation_id, r.occurrence) for r in env.runs()] == [(daily.id, "recurring:2026-11-02")]
    assert len(env.sent()) == 1
    assert env.firings.check_schedules(env.account) == 2
    env.expansions()
    assert len(env.runs()) == 1 and len(env.schedules()) == 2  # nothing twice


def test_a_firing_more_than_a_day_late_sends_nothing_but_keeps_the_chain_going(env):
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60)))
    env.services.contact_lists.add_members(env.account, env.list.id, [env.contact().uuid])
    env.clock.set(datetime(2026, 11, 5, 12, 0, tzinfo=NY))  # Scheduler was out for days
    env.firings.expand(env.account, daily.id, day=date(2026, 11, 2))
    assert env.runs() == []  # three days late: Scheduler would have given it up too
    assert "2026-11-05" in {s["Name"][-10:] for s in env.schedules()}  # the chain goes on from a day ago
    env.fire_due_schedules()  # Saturday's (days late: nothing) and today's 09:00 (3 hours late: sent)
    env.drain()
    assert [r.occurrence for r in env.runs()] == ["recurring:2026-11-05"] and len(env.sent()) == 1
    assert [s["Name"][-10:] for s in env.schedules()] == ["2026-11-06"]


def _outage(*args, **kwargs):
    raise ConnectionError("Scheduler unreachable")


def test_a_birthday_rule_fires_once_a_year_and_feb_29_on_feb_28(env, monkeypatch):
    from automations.adapters import dynamo_contacts
    from automations.adapters.dynamo_contacts import DynamoGroupStore

    monkeypatch.setattr(dynamo_contacts, "JOIN_SHARDS", 1)  # a year of firings, each one expansion
    monkeypatch.setattr(DynamoGroupStore, "member_shards", 1)
    birthday = env.services.custom_fields.create(env.account, "Birthday", "contact", "date")
    rule = env.rule(env.send_email(), trigger=Trigger.DATE_FIELD,
                    date_field=DateFieldTrigger(birthday.id, ClockTime(9 * 60)))
    leap = env.contact(email="leap@example.com", custom_fields={str(birthday.id): "2000-02-29"})
    other = env.contact(email="other@example.com", custom_fields={str(birthday.id): "1990-03-05"})
    env.services.contact_lists.add_members(env.account, env.list.id, [leap.uuid, other.uuid])
    planned = {}
    day = date(2027, 1, 1)
    while day.year == 2027:  # every daily firing of a year, each an hour before its UTC day
        env.clock.set(datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - timedelta(hours=1))
        env.expand({"account_id": env.account, "automation_id": rule.id, "day": day.isoformat()})
        day += timedelta(days=1)
    for run in env.runs():
        planned.setdefault(run.subject_id, []).append(run.due_at.astimezone(NY))
    assert planned == {leap.uuid: [datetime(2027, 2, 28, 9, 0, tzinfo=NY)],
                       other.uuid: [datetime(2027, 3, 5, 9, 0, tzinfo=NY)]}


def test_a_birthday_on_a_day_whose_midnight_the_clocks_skip_is_sent_at_its_time(env):
    """14 March 2027 in Havana starts at 01:00 (the clocks skip midnight): the planning firings,
    on UTC days, never depend on that midnight."""
    env.clock.set(datetime(2027, 3, 10, 12, 0, tzinfo=timezone.utc))
    birthday = env.services.custom_fields.create(env.account, "Birthday", "contact", "date")
    env.rule(env.send_email(), trigger=Trigger.DATE_FIELD, date_field=DateFieldTrigger(birthday.id, ClockTime(9 * 60)))
    havana = env.contact(timezone="America/Havana", custom_fields={str(birthday.id): "1990-03-14"})
    env.services.contact_lists.add_members(env.account, env.list.id, [havana.uuid])
    env.live_until(datetime(2027, 3, 17, tzinfo=timezone.utc))
    [run] = env.runs()
    assert run.occurrence == "date:2027-03-14" and run.status is RunStatus.SUCCEEDED
    assert run.due_at == datetime(2027, 3, 14, 9, 0, tzinfo=ZoneInfo("America/Havana"))  # 13:00 UTC, CDT
    assert len(env.sent()) == 1


def test_a_failing_channel_is_retried_then_fails_the_run_with_the_reason(env):
    text = env.services.templates.create(env.account, {"type": "text", "title": "Ping", "body": "Hi"})
    env.rule(RuleAction(ActionKind.SEND_TEXT, template_id=text.id))
    ann = env.contact(phone="+14155550100")
    senders = env.senders
    from automations.domain.delivery import Channel, TransientDeliveryError

    class Down:
        def send(self, d):
            raise TransientDeliveryError("Throttling")

    real = senders[Channel.SMS]
    senders[Channel.SMS] = Down()
    try:
        env.join(ann)
        [run] = env.drain()
        assert run.status is RunStatus.RUNNING and run.history[-1]["event"] == "retrying"
        for _ in range(6):
            env.clock.advance(900)
            env.executor.redrive()
            env.drain()
        run = env.services.runs.get(env.account, run.id)
        assert run.status is RunStatus.FAILED and "Throttling" in run.error
    finally:
        senders[Channel.SMS] = real


def test_text_messages_go_through_sns(env):
    text = env.services.templates.create(env.account, {"type": "text", "title": "Ping", "body": "Hi {{contact.first_name}}"})
    env.rule(RuleAction(ActionKind.SEND_TEXT, template_id=text.id))
    ann = env.contact(phone="+14155550100")
    env.join(ann)
    [run] = env.drain()
    assert run.status is RunStatus.SUCCEEDED
    [sms] = env.sent("sms")
    assert (sms["recipient"], sms["body"]) == ("+14155550100", "Hi Ann") and sms["provider_id"]


def test_a_text_to_a_country_not_allowed_fails_the_run_and_sends_nothing(env):
    from automations_local.outbox import sns_text_messages

    text = env.services.templates.create(env.account, {"type": "text", "title": "Ping", "body": "Hi"})
    env.rule(RuleAction(ActionKind.SEND_TEXT, template_id=text.id))
    env.join(env.contact(phone="+33612345678"))  # France: not in the default 1,44,31
    [run] = env.drain()
    assert run.status is RunStatus.FAILED
    assert run.error == ("sms to +33612345678: +33612345678 is not in an allowed country: texts go only to "
                         "country calling codes +1, +44, +31 (the SmsAllowedCountryCodes parameter)")
    assert env.sent("sms") == [] and sns_text_messages("us-east-1") == []


def test_set_custom_field_updates_the_contact(env):
    tier = env.services.custom_fields.create(env.account, "Tier", "contact", "text")
    env.rule(RuleAction(ActionKind.SET_CUSTOM_FIELD, custom_field_id=tier.id, value="gold"))
    ann = env.contact()
    env.join(ann)
    [run] = env.drain()
    assert run.status is RunStatus.SUCCEEDED
    assert env.services.contacts.get(env.account, ann.uuid).custom_fields == {str(tier.id): "gold"}


def test_a_cancel_through_the_api_cancels_a_scheduled_run_and_a_retried_cancel_gets_the_same_answer(env):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    assert env.executor.cancel(env.account, run.id).status is RunStatus.CANCELLED
    assert env.executor.cancel(env.account, run.id).status is RunStatus.CANCELLED  # a retried cancel: same answer


def test_a_cancel_finds_no_run_of_another_account_nor_one_that_does_not_exist(env, services):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    other, _ = services.accounts.create_account("Other", "o@other.test")
    with pytest.raises(NotFound):
        env.executor.cancel(other.id, run.id)
    with pytest.raises(NotFound):
        env.executor.cancel(env.account, "run_nope")
    assert env.runs(ann)[0].status is RunStatus.SCHEDULED


def test_a_run_done_already_cannot_be_cancelled(env):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    bob = env.contact(email="bob@example.com")
    env.join(bob)
    [bobs] = env.runs(bob)
    env.clock.set(bobs.due_at)
    env.fire_due_schedules()
    with pytest.raises(Conflict):
        env.executor.cancel(env.account, bobs.id)  # done already


def _changes(**values):
    from automations.domain.model import AutomationChanges

    return AutomationChanges(**values)


def test_an_html_only_email_goes_as_html(env):
    from automations_local.outbox import ses_messages

    html = env.services.templates.create(env.account, {"type": "email", "title": "Promo", "subject": "Deal",
                                                       "html": "<p>Hi {{ contact.first_name }}</p>"})
    env.rule(env.send_email(html.id))
    ann = env.contact(email="html@example.com")
    env.join(ann)
    [run] = env.drain()
    assert run.status is RunStatus.SUCCEEDED
    [mail] = env.sent()
    assert mail["body"] == "<p>Hi Ann</p>"
    [accepted] = [m for m in ses_messages("us-east-1") if "html@example.com" in m["destinations"]["ToAddresses"]]
    assert "<p>Hi Ann</p>" in (accepted["body"] or "")


def test_a_lost_recurring_schedule_is_put_back_by_the_hourly_check(env, monkeypatch):
    monkeypatch.setattr(env.run_scheduler, "put_firing", _outage)
    weekly = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                      recurrence=Recurrence("friday", ClockTime(17 * 60), False))  # saved despite the outage
    assert env.services.automations.get(env.account, weekly.id).active and env.schedules() == []
    monkeypatch.undo()
    env.hourly.hourly_check_later([env.account])
    message = env.sqs.receive_message(QueueUrl=config.expand_queue_url())["Messages"][0]
    assert json.loads(message["Body"]) == {"account_id": env.account, "hourly_check": True}
    assert env.firings.check_schedules(env.account) == 1
    [schedule] = env.schedules()
    assert schedule["ScheduleExpression"] == "at(2026-11-06T22:00:00)" and schedule["State"] == "ENABLED"
    assert env.firings.check_schedules(env.account) == 1 and len(env.schedules()) == 1  # idempotent


def test_joins_whose_hand_off_was_lost_get_their_runs_from_the_hourly_check(env):
    env.rule(env.send_email(), delay=Delay(0, 3, 0))
    ann, bob = env.contact(), env.contact(email="bob@example.com")
    env.join(ann)  # handed off and made into a run
    env.services.contact_lists.add_members(env.account, env.list.id, [bob.uuid])
    env.sqs.purge_queue(QueueUrl=config.events_queue_url())  # the hand-off of bob's join is lost
    assert [r.subject_id for r in env.runs()] == [ann.uuid]
    assert env.hourly.hourly_check(env.account) == {"zone_followed": 0, "schedules": 0, "caught_up_runs": 1, "continued": 0}
    assert sorted(r.subject_id for r in env.runs()) == sorted([ann.uuid, bob.uuid])
    assert env.hourly.hourly_check(env.account) == {"zone_followed": 0, "schedules": 0, "caught_up_runs": 0, "continued": 0}  # nothing twice
    assert len(env.schedules()) == 2


def test_webhook_and_emit_event_actions_of_a_manual_run(env, monkeypatch):
    from test_deliveries import Receiver

    from automations.adapters.channels import DELIVERY_HEADER
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Conditions

    monkeypatch.setenv("AUTOMATIONS_LOCAL", "1")  # the receiver is on loopback
    receiver = Receiver([])
    try:
        hook = env.services.webhooks.create(env.account, "CRM", receiver.url)
        automation = env.services.automations.create(env.account, AutomationDraft(
            title="Reward", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
            trigger_config=event_rules.trigger_config(None, Delay(), None),
            actions=(Action("webhook", {"webhook_id": hook.id, "body": '{"who": "{{ contact.email }}"}'}),
                     Action("emit_event", {"detail_type": "loyalty.credits_requested",
                                           "detail": {"credits": "{{ data.credits }}", "contact": "{{ contact.uuid }}"}}))))
        ann = env.contact()
        run = env.launcher.start_manual(env.account, automation, ann.uuid, data={"credits": 50}, occurrence="req-1")
        assert env.launcher.start_manual(env.account, automation, ann.uuid, data={"credits": 50},
                                         occurrence="req-1").id == run.id  # a retried request: the same run
        [done] = {r.id: r for r in env.drain()}.values()
        assert done.status is RunStatus.SUCCEEDED and len(done.deliveries) == 2
        [(headers, body)] = receiver.requests
        assert json.loads(body) == {"who": "ann@example.com"} and headers[DELIVERY_HEADER] == f"{run.id}.0.0"
        events = {d["recipient"]: d for d in env.sent("event")}
        assert json.loads(events["loyalty.credits_requested"]["body"]) == {"credits": "50", "contact": ann.uuid}
        assert json.loads(events["automation.run.succeeded"]["body"])["run_id"] == run.id
    finally:
        receiver.close()


def test_a_manual_run_for_a_contact_that_does_not_exist_is_not_found_and_makes_no_run(env):
    automation = env.rule(env.send_email())
    with pytest.raises(NotFound):
        env.launcher.start_manual(env.account, automation, "00000000-0000-4000-8000-000000000000", data=None,
                                  occurrence="req-2")
    assert env.runs() == []


def test_event_automations_run_when_their_conditions_match(env):
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions

    env.services.automations.create(env.account, AutomationDraft(
        title="Big spender", subject=SubjectKind.CONTACT, trigger=Trigger.EVENT,
        conditions=Conditions(all=(Condition("data.total", "greater_than", 100),)),
        trigger_config=event_rules.trigger_config("shop.order_placed", Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),)))
    ann = env.contact()
    assert env.launcher.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 20}, event_id="e1").runs == []
    assert env.launcher.on_event(env.account, "shop.other", ann.uuid, data={"total": 500}, event_id="e2").runs == []
    [run] = env.launcher.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 500}, event_id="e3").runs
    assert env.launcher.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 500},
                                 event_id="e3").runs[0].id == run.id  # redelivered: no second run
    assert {r.id: r.status for r in env.drain()} == {run.id: RunStatus.SUCCEEDED} and len(env.sent()) == 1


def test_contact_changes_whose_hand_off_was_lost_get_their_runs_from_the_hourly_check(env):
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Conditions

    env.services.automations.create(env.account, AutomationDraft(
        title="Profile changed", subject=SubjectKind.CONTACT, trigger=Trigger.EVENT, conditions=Conditions(),
        trigger_config=event_rules.trigger_config("contact_updated", Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),)))
    ann = env.contact()
    env.services.contacts.update(env.account, ann.uuid, {"first_name": "Anna"})
    env.drain()  # announced on the queue: one run, sent
    assert len(env.runs(ann)) == 1 and len(env.sent()) == 1
    env.services.contacts.update(env.account, ann.uuid, {"first_name": "Annie"})
    env.sqs.purge_queue(QueueUrl=config.events_queue_url())  # this announcement is lost
    assert len(env.runs(ann)) == 1
    assert env.hourly.hourly_check(env.account) == {"zone_followed": 0, "schedules": 0, "caught_up_runs": 1, "continued": 0}
    env.drain()
    assert len(env.runs(ann)) == 2 and len(env.sent()) == 2
    assert env.hourly.hourly_check(env.account)["caught_up_runs"] == 0  # nothing twice
    logged, _ = env.services.contact_events.since(env.account)
    assert sorted(e.event.value for e in logged if e.contact_uuid == ann.uuid) == \
        ["contact_created", "contact_updated", "contact_updated"]  # one instant here: ordered by id


def test_a_queue_outage_does_not_fail_a_saved_contact_change(env, monkeypatch):
    def outage(*args, **kwargs):
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(env.services.event_ingestion, "contact_changed", outage)
    ann = env.contact()  # saved, and answered, although the announcement failed
    assert env.services.contacts.get(env.account, ann.uuid).email == "ann@example.com"
    logged, _ = env.services.contact_events.since(env.account)
    assert [e.event.value for e in logged] == ["contact_created"]  # the hourly check will find it


# -- poison records: each fails alone, visibly (a failed run with the reason, a log line) -------

def _stored_as(automation, **poison):
    """Rewrite ``automation`` in the table below every check, as a record stored before
    today's checks (or written some other way) can be."""
    import dataclasses

    from automations.adapters.dynamo import DynamoAutomationStore

    DynamoAutomationStore(boto3.client("dynamodb"), config.table_name()).replace(
        automation, dataclasses.replace(automation, **poison), 500)


def _rewrite_contact(env, contact, **values):
    """Rewrite a stored contact's document below every check."""
    key = {"PK": {"S": f"ACCOUNT#{env.account}"}, "SK": {"S": f"CONTACT#{contact.uuid}"}}
    db = boto3.client("dynamodb")
    document = json.loads(db.get_item(TableName=config.table_name(), Key=key)["Item"]["data"]["S"])
    db.update_item(TableName=config.table_name(), Key=key, UpdateExpression="SET #d = :d",
                   ExpressionAttributeNames={"#d": "data"},
                   ExpressionAttributeValues={":d": {"S": json.dumps({**document, **values})}})


def _logged(caplog, *ids):
    return any(all(str(i) in r.getMessage() for i in ids) for r in caplog.records)


def test_a_run_that_cannot_be_performed_fails_at_once_and_alone(env, caplog):
    from automations.domain.model import Action

    good = env.rule(env.send_email())
    other = env.services.templates.create(env.account, {"type": "email", "title": "Other", "subject": "S", "text": "T"})
    poisoned = env.rule(env.send_email(other.id))
    _stored_as(poisoned, actions=(Action("set_custom_field", {"value": "x"}),))  # no field to set
    ann, bob = env.contact(), env.contact(email="bob@example.com", first_name="Bob")
    _rewrite_contact(env, ann, first_name="Ann \ud83d")  # a lone surrogate in what the mail renders
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid, bob.uuid])
    env.drain()
    runs = {(r.automation_id, r.subject_id): r for r in env.runs()}
    for contact in (ann, bob):
        assert runs[good.id, contact.uuid].status is RunStatus.SUCCEEDED
        failed = runs[poisoned.id, contact.uuid]
        assert failed.status is RunStatus.FAILED and failed.attempts == 1 and "KeyError" in failed.error
        assert _logged(caplog, env.account, poisoned.id, failed.id)
    assert sorted(d["subject"] for d in env.sent()) == ["Hi Ann \ufffd", "Hi Bob"]
    failed_listed = env.services.runs.list(env.account, status=RunStatus.FAILED, limit=100)[0]
    assert {r.automation_id for r in failed_listed} == {poisoned.id}


def _event_rule(env, title, condition):
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions

    return env.services.automations.create(env.account, AutomationDraft(
        title=title, subject=SubjectKind.CONTACT, trigger=Trigger.EVENT,
        conditions=Conditions(all=(Condition(*condition),)),
        trigger_config=event_rules.trigger_config("shop.order_placed", Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),)))


def test_an_event_whose_conditions_cannot_be_evaluated_fails_that_automation_alone(env, caplog):
    from automations.domain.model import Condition, Conditions
    from automations.service.ingestion import new_event

    good = _event_rule(env, "Big spender", ("data.total", "greater_than", "100"))
    poisoned = _event_rule(env, "Broken", ("data.total", "less_than", "100"))
    _stored_as(poisoned, conditions=Conditions(all=(Condition("data.total", "resembles", "100"),)))
    ann = env.contact()
    # 400 digits: past a float's range, still a number the event may carry
    env.services.event_ingestion.submit([new_event(env.account, "shop.order_placed", ann.uuid,
                                                   {"total": 10 ** 400}, named_by=("host", "order-1"))])
    env.drain()
    runs = {r.automation_id: r for r in env.runs(ann)}
    assert runs[good.id].status is RunStatus.SUCCEEDED and len(env.sent()) == 1
    assert runs[poisoned.id].status is RunStatus.FAILED and "the conditions could not be evaluated" in runs[poisoned.id].error
    assert _logged(caplog, env.account, poisoned.id, runs[poisoned.id].id)


def test_a_join_that_cannot_become_a_run_fails_alone(env, caplog):
    from automations.domain.contact_events import ContactEvent, ContactEventKind

    env.rule(env.send_email(), delay=Delay(2, 0, 0))
    contacts = [env.contact(email=f"m{n}@example.com") for n in range(3)]
    end_of_time = datetime(9999, 12, 31, 12, tzinfo=timezone.utc)  # plus the delay: past what a date holds
    joins = [ContactEvent(ContactEventKind.LIST_JOINED, env.account, c.uuid, env.list.id,
                          end_of_time if n == 1 else clock.now(), f"join-{n}") for n, c in enumerate(contacts)]
    env.services.event_ingestion.joined(joins)
    env.ingest()
    runs = {r.subject_id: r for r in env.runs()}
    assert [runs[c.uuid].status for c in contacts] == [RunStatus.SCHEDULED, RunStatus.FAILED, RunStatus.SCHEDULED]
    assert "the run could not be created: OverflowError" in runs[contacts[1].uuid].error
    assert _logged(caplog, env.account, runs[contacts[1].uuid].id, contacts[1].uuid)
    assert len(env.schedules()) == 2


def test_a_recurring_firing_goes_on_past_a_member_whose_run_cannot_be_stored(env, monkeypatch):
    from botocore.exceptions import ClientError

    from automations_local.lambdas import invoke
    from automations_local.queues import sqs_record

    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60), False))
    members = [env.contact(email=f"m{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [m.uuid for m in members])
    store, real_put = env.run_store, env.run_store.put_new

    def refuse_one(run):
        if run.subject_id == members[1].uuid and run.status is RunStatus.SCHEDULED:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the "
                                         "maximum allowed size"}}, "PutItem")
        return real_put(run)

    monkeypatch.setattr(store, "put_new", refuse_one)
    env.clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=NY))
    invoke(env.template.functions["RuleExpanderFunction"], {"account_id": env.account, "automation_id": daily.id,
                                                          "day": "2026-11-02"})
    while got := env.sqs.receive_message(QueueUrl=config.expand_queue_url(), MaxNumberOfMessages=10).get("Messages"):
        invoke(env.template.functions["RuleExpanderFunction"],  # the firing's member shards, side by side
               {"Records": [sqs_record(m, env.template.arn("ExpandQueue"), "us-east-1") for m in got]})
        for m in got:
            env.sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])
    done = {r.subject_id: r for r in env.drain()}
    assert {m.uuid for m in members} - set(done) == {members[1].uuid} and len(env.sent()) == 2
    [failed] = env.runs(members[1])
    assert failed.status is RunStatus.FAILED and "Item size has exceeded" in failed.error


def test_a_large_data_run_announces_its_success_with_the_data_left_out(env):
    from automations.service.contact_actions import ANNOUNCED_DATA_LIMIT

    automation, ann = _manual(env), env.contact()
    data = {f"k{n:05d}": n * 10 for n in range(25_000)}  # 25,000 keys: about 390 KB, as a run item holds
    assert len(json.dumps(data, separators=(",", ":"))) > 385_000
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=data, occurrence="big")
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1
    [announced] = env.sent("event")
    detail = json.loads(announced["body"])
    assert detail["run_id"] == run.id and detail["data"] is None and detail["data_omitted"] is True
    assert detail["data_bytes"] == len(json.dumps(data)) > ANNOUNCED_DATA_LIMIT
    small = env.launcher.start_manual(env.account, automation, ann.uuid, data={"code": "X1"}, occurrence="small")
    env.drain()
    assert json.loads({d["run_id"]: d for d in env.sent("event")}[small.id]["body"])["data"] == {"code": "X1"}


def _manual(env):
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Conditions

    return env.services.automations.create(env.account, AutomationDraft(
        title="Voucher", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
        trigger_config=event_rules.trigger_config(None, Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),)))


def test_a_crash_after_the_outcome_leaves_the_announcement_for_the_relay(env, monkeypatch):
    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    sending = env.deliveries
    real_dispatch = sending.dispatch

    def die_on_announcing(deliveries):
        if any(d.recipient == "automation.run.succeeded" for d in deliveries):
            raise ConnectionError("the process died right after recording the outcome")
        return real_dispatch(deliveries)

    monkeypatch.setattr(sending, "dispatch", die_on_announcing)
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and env.sent("event") == []
    [pending] = _outbox(env, "event")
    assert pending["status"] == "pending" and pending["run_id"] == run.id
    monkeypatch.setattr(sending, "dispatch", real_dispatch)
    assert sending.relay() == 1  # the hourly relay sends what the crash left
    assert [d["run_id"] for d in env.sent("event")] == [run.id]


def _dying_before_the_success_is_recorded(env, monkeypatch):
    """A manual run whose first attempt dies after its announcement is stored, before its
    success is recorded; the run, after the attempt (the store writes again afterwards)."""
    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    store, real_replace = env.run_store, env.run_store.replace

    def die_on_succeeding(old, new, *rest):
        if new.status is RunStatus.SUCCEEDED:
            raise ConnectionError("the process died before recording the outcome")
        return real_replace(old, new, *rest)

    monkeypatch.setattr(store, "replace", die_on_succeeding)
    [interrupted] = env.drain()
    monkeypatch.setattr(store, "replace", real_replace)
    assert interrupted.id == run.id
    return automation, interrupted


def test_a_crash_before_the_outcome_announces_once_when_the_run_is_taken_over(env, monkeypatch):
    _, interrupted = _dying_before_the_success_is_recorded(env, monkeypatch)
    [waiting] = _outbox(env, "event")  # stored just before the outcome: no crash between loses it
    assert interrupted.status is RunStatus.RUNNING and waiting["status"] == "pending"
    assert env.deliveries.relay() == 0 and env.sent("event") == []  # not before the outcome is recorded
    env.clock.advance(600)
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and [d["run_id"] for d in env.sent("event")] == [done.id]
    assert len(env.sent()) == 1  # the mail went once
    assert env.deliveries.relay() == 0 and len(env.sent("event")) == 1  # announced once


def test_an_announcement_whose_run_then_ends_otherwise_is_never_sent(env, monkeypatch):
    """The process dies between storing the announcement and recording the success; before the
    run is taken over its automation is deactivated, so the run ends skipped: the relay skips
    the announcement instead of announcing a success the run does not show."""
    from automations.domain.model import AutomationChanges

    automation, _ = _dying_before_the_success_is_recorded(env, monkeypatch)
    env.services.automations.update(env.account, automation.id, AutomationChanges(active=False))
    env.clock.advance(600)
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.status is RunStatus.SKIPPED
    assert env.deliveries.relay() == 0 and env.sent("event") == []
    [skipped] = _outbox(env, "event")
    assert skipped["status"] == "skipped" and skipped["error"] == "not announced: the run ended skipped"


class _ProcessDied(BaseException):
    """The executor's process ends mid-call (a timeout, the sandbox gone): nothing catches it."""


def test_a_mail_whose_sender_stopped_is_recorded_unconfirmed_when_the_run_then_ends_otherwise(env, monkeypatch):
    """The process dies while SES has the mail (stored claimed, out of the relay's outbox); before
    the run is taken over its automation is deactivated, so the retry never composes the mail
    again: it still records it unconfirmed as it ends the run skipped, and sends nothing."""
    from automations.domain.model import AutomationChanges

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    ses = env.senders[Channel.EMAIL]

    def dies(delivery):
        raise _ProcessDied()

    monkeypatch.setattr(ses, "send", dies)
    with pytest.raises(_ProcessDied):
        env.drain()
    monkeypatch.undo()
    [mail] = _outbox(env, "email")
    assert mail["status"] == "sending" and env.deliveries.relay() == 0  # the run's to settle, not the relay's
    env.services.automations.update(env.account, automation.id, AutomationChanges(active=False))
    env.clock.advance(600)  # past the lease: the re-drive takes the run over
    assert env.executor.redrive().done == 1
    [done] = env.drain()
    assert done.id == run.id and done.status is RunStatus.SKIPPED
    [mail] = _outbox(env, "email")
    assert mail["status"] == "unconfirmed" and mail["attempts"] == 1 and env.sent() == []


def test_a_mail_whose_outcome_a_throttle_kept_from_its_record_is_settled_when_the_run_then_ends_otherwise(env):
    """SES took the mail, then DynamoDB throttles the write of its outcome: it stays "sending"
    (stored claimed, out of the relay's outbox) and the run is delayed, its attempt given back.
    Its automation deactivated meanwhile, the next attempt (again the first) skips the run: it
    still records the mail unconfirmed, as the outbox's relay did, and sends it no more."""
    from support import Refusal, error_answer

    from automations.adapters import aws
    from automations.domain.model import AutomationChanges

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: '"sent"' in str(request.get("body", ""))) as throttle:
        [delayed] = env.drain()
    assert throttle.refused == 1 and delayed.history[-1]["event"] == "throttled"
    env.services.automations.update(env.account, automation.id, AutomationChanges(active=False))
    done = _when_finished(env, run)
    assert done.status is RunStatus.SKIPPED and done.attempts == 1
    [mail] = _outbox(env, "email")
    assert mail["status"] == "unconfirmed" and mail["attempts"] == 1 and len(_mails_to("ann@example.com")) == 1


def _mails_to(address):
    """What SES was given for ``address``."""
    from automations_local.outbox import ses_messages

    return [m for m in ses_messages("us-east-1") if address in m["destinations"]["ToAddresses"]]


def _deactivate(env, automation, contact):
    env.services.automations.update(env.account, automation.id, _changes(active=False))


def _delete(env, automation, contact):
    env.services.contacts.delete(env.account, contact.uuid)


@pytest.mark.parametrize("unwanted, reason", [(_deactivate, "the automation was deleted or deactivated"),
                                              (_delete, "the contact no longer exists")])
def test_a_mail_an_ses_throttle_gave_back_is_never_sent_once_its_run_is_skipped(env, unwanted, reason):
    """SES throttles the run's mail: it goes back to pending, in the relay's outbox, and the run
    is delayed. Before the next attempt the run stops being wanted (its automation deactivated,
    its contact deleted), so that attempt skips the run: the mail is settled skipped with the
    run, and the hourly relay never sends it."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("sesv2"), "SendEmail", error_answer("TooManyRequestsException")) as throttle:
        [delayed] = env.drain()
    assert throttle.refused == 1 and delayed.history[-1]["event"] == "throttled"
    assert [m["status"] for m in _outbox(env, "email")] == ["pending"]
    unwanted(env, automation, ann)
    done = _when_finished(env, run)
    assert done.status is RunStatus.SKIPPED and done.error == reason
    env.clock.advance(3600)
    assert env.deliveries.relay() == 0 and _mails_to("ann@example.com") == []
    [mail] = _outbox(env, "email")
    assert mail["status"] == "skipped" and mail["error"] == f"not sent: the run ended skipped ({reason})"


def test_a_run_that_gave_up_never_sends_what_its_attempts_left_pending(env, monkeypatch):
    """Every attempt sends the mail's part, then fails on the event (the table unreachable as it
    claims it), so no attempt's outcome names the event; after 5 attempts the run fails. The
    event, left pending in the outbox, is failed with the run: when the table is back the relay
    does not send it."""
    from automations.service.executing import backoff

    automation, ann = _mail_then_event(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    real_claim = env.outbox.claim

    def unreachable(d):
        if d.id == f"{run.id}.1.0":
            raise ConnectionError("DynamoDB is unreachable")
        return real_claim(d)

    monkeypatch.setattr(env.outbox, "claim", unreachable)
    env.drain()
    for attempt in range(1, 5):  # each retry's one-time schedule
        env.clock.advance(backoff(attempt) + 1)
        env.fire_due_schedules()
    done = env.services.runs.get(env.account, run.id)
    assert done.status is RunStatus.FAILED and done.attempts == 5 and "gave up after 5 attempts" in done.error
    assert done.deliveries == ()
    monkeypatch.setattr(env.outbox, "claim", real_claim)  # the table is back
    env.clock.advance(3600)
    assert env.deliveries.relay() == 0 and env.sent("event") == []
    [event] = [d for d in _outbox(env, "event") if d["id"] == f"{run.id}.1.0"]
    assert event["status"] == "failed" and event["error"].startswith("not sent: the run ended failed (gave up after 5")
    assert len(_mails_to("ann@example.com")) == 1


def test_a_mail_ses_throttled_whose_release_is_throttled_too_is_sent_once_later(env):
    """SES throttles the run's mail (known unsent), then DynamoDB throttles the write giving it
    back to pending: that write is waited out with the table's backoff, so the mail is not left
    "sending" (which the next attempt would record unconfirmed, never to send it). The run is
    delayed, and its next attempt sends the mail once; the relay sends nothing more."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("sesv2"), "SendEmail", error_answer("TooManyRequestsException")) as ses, \
            Refusal(aws.client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                    when=lambda request: "if_not_exists(DUE_PK" in str(request.get("body", ""))) as release:
        [delayed] = env.drain()
    assert ses.refused == 1 and release.refused == 1 and delayed.history[-1]["event"] == "throttled"
    assert [m["status"] for m in _outbox(env, "email")] == ["pending"]
    done = _when_finished(env, run)
    assert done.status is RunStatus.SUCCEEDED
    env.clock.advance(3600)
    assert env.deliveries.relay() == 0
    [mail] = _outbox(env, "email")
    assert mail["status"] == "sent" and mail["attempts"] == 1 and len(_mails_to("ann@example.com")) == 1


def test_a_run_whose_retry_schedule_is_throttled_is_retried_through_the_run_queue_at_its_time(env, monkeypatch):
    """The bus fails the run's event once (a 503), so the run is to be retried in a minute; then
    Scheduler throttles the retry's one-time schedule. The run, written as retrying, goes on
    through the run queue with the retry's delay instead (not left to the hourly re-drive): it
    succeeds at its retry, the mail and the event sent once each."""
    from support import Refusal, error_answer

    from automations.adapters import aws
    from automations.domain.delivery import TransientDeliveryError
    from automations.service.executing import backoff

    run = env.launcher.start_manual(env.account, _mail_then_event(env), env.contact().uuid, data=None,
                                    occurrence="r1")
    events, real_send = env.senders[Channel.EVENT], env.senders[Channel.EVENT].send
    sends = []

    def fails_once(delivery):
        sends.append(delivery.id)
        if len(sends) == 1:
            raise TransientDeliveryError("503 from the bus")
        return real_send(delivery)

    monkeypatch.setattr(events, "send", fails_once)
    with Refusal(aws.client("scheduler"), "CreateSchedule", error_answer("ThrottlingException")) as throttle:
        [after] = env.drain()
    assert throttle.refused == 1 and env.schedules() == []
    assert after.status is RunStatus.RUNNING and after.history[-1]["event"] == "retrying"
    env.clock.advance(backoff(1) - 1)
    assert env.drain() == []  # never before its retry's time
    env.clock.advance(2)
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and done.attempts == 2
    assert len(env.sent()) == 1 and sends == [f"{run.id}.1.0", f"{run.id}.1.0", f"{run.id}.succeeded"]


def _run_queue_throttled():
    """SQS throttles every send to the run queue, past botocore's retries (the other queues go on)."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    queue = config.run_queue_url().rsplit("/", 1)[-1]
    return Refusal(aws.client("sqs"), "SendMessageBatch", error_answer("RequestThrottled"), times=100,
                   when=lambda request: queue in str(request.get("body")))


def test_a_throttled_run_whose_queue_message_is_throttled_goes_on_by_its_own_schedule(env):
    """SES throttles the run's mail, so the run is delayed through the run queue; then SQS
    throttles that message past every retry. The run, written as leased for its wait, would be
    found taken by a redelivery and left to the hourly re-drive: it gets a one-time schedule at
    its lease's end instead, and goes then, its mail sent once."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("sesv2"), "SendEmail", error_answer("TooManyRequestsException")) as ses, \
            _run_queue_throttled():
        [delayed] = env.drain()
    assert ses.refused == 1 and delayed.history[-1]["event"] == "throttled"
    [schedule] = env.schedules()
    assert json.loads(schedule["Target"]["Input"]) == {"account_id": env.account, "run_id": run.id}
    env.clock.set(delayed.lease_until - timedelta(seconds=1))
    assert env.fire_due_schedules() == [] and _mails_to("ann@example.com") == []  # never before its wait is over
    env.clock.set(delayed.lease_until + timedelta(seconds=1))
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED and len(_mails_to("ann@example.com")) == 1


def test_a_retried_run_handed_on_by_a_schedule_of_its_own_never_reuses_its_retry_s_schedule_name(env, monkeypatch):
    """The run's first attempt fails (a 503 from the bus) and is retried by a one-time schedule;
    its second is throttled (the bus again) and, SQS throttling the run queue, goes on by a
    schedule of its own, its attempt given back. That schedule took the retry's name, the attempt
    count being the same again: the retry's schedule, still there or deleted, holds that name and
    ClientToken, so Scheduler answered with a conflict or the first request's outcome and made
    nothing, and the run waited for the hourly re-drive. Each bring-back has its own name."""
    from support import Refusal, error_answer

    from automations.adapters import aws
    from automations.domain.delivery import TransientDeliveryError

    ann = env.contact()
    env.launcher.start_manual(env.account, _mail_then_event(env), ann.uuid, data=None, occurrence="r1")
    events, real_send = env.senders[Channel.EVENT], env.senders[Channel.EVENT].send
    failures = iter([TransientDeliveryError("503 from the bus")])

    def fails_once(delivery):
        if (error := next(failures, None)) is not None:
            raise error
        return real_send(delivery)

    monkeypatch.setattr(events, "send", fails_once)
    [retrying] = env.drain()
    [retry] = env.schedules()
    assert retrying.history[-1]["event"] == "retrying"
    env.clock.set(retrying.lease_until + timedelta(seconds=1))
    with Refusal(aws.client("events"), "PutEvents", error_answer("ThrottlingException")) as bus, \
            _run_queue_throttled():
        [throttled] = env.fire_due_schedules()
    assert bus.refused == 1 and throttled.history[-1]["event"] == "throttled"
    [schedule] = env.schedules()
    assert schedule["Name"] != retry["Name"]
    env.clock.set(throttled.lease_until + timedelta(seconds=1))
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED and len(_mails_to(ann.email)) == 1


def test_a_held_run_whose_schedule_is_throttled_is_handed_on_by_the_redelivery_and_goes_at_the_opening(env):
    """A throttle delays a run due at 16:59:58 past its window's 17:00 close; its next attempt
    holds it to tomorrow's 09:00 opening, but Scheduler throttles the held run's schedule. The
    message fails (the run is written as held already, so it is not delayed as a throttled
    attempt, which would find it moved and let the message go), and its redelivery finds the run
    not yet due and schedules it: it goes at the opening, not with the hourly re-drive."""
    from botocore.exceptions import ClientError
    from support import Refusal, error_answer

    from automations.adapters import aws

    env.rule(env.send_email(), window=SendWindow(ClockTime(9 * 60), ClockTime(17 * 60)))
    env.clock.set(datetime(2026, 11, 2, 16, 59, 58, tzinfo=NY))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    with Refusal(aws.client("dynamodb"), "GetItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: "CONTACT#" in str(request.get("body", ""))):
        [delayed] = env.drain()
    assert delayed.history[-1]["event"] == "throttled"
    env.clock.advance(10)
    with Refusal(aws.client("scheduler"), "CreateSchedule", error_answer("ThrottlingException")) as throttle, \
            pytest.raises(ClientError, match="ThrottlingException"):
        env.drain()
    held = env.services.runs.get(env.account, run.id)
    opening = datetime(2026, 11, 3, 9, 0, tzinfo=NY)
    assert throttle.refused == 1 and held.status is RunStatus.SCHEDULED and held.due_at == opening
    assert env.executor.execute(env.account, run.id).status is RunStatus.SCHEDULED  # the redelivery
    env.clock.set(opening)
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1


def test_a_throttle_on_storing_the_announcement_delays_the_run_and_it_announces_once(env):
    """DynamoDB throttles the announcement's write (after the mail went): the run is delayed, not
    failed, its attempt given back; taken up again it records its success and announces it once,
    and the mail is not sent again."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("dynamodb"), "PutItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: ".succeeded" in json.dumps(request.get("body", ""), default=str)) as throttle:
        [delayed] = env.drain()
    assert throttle.refused == 1
    assert delayed.status is RunStatus.RUNNING and delayed.history[-1]["event"] == "throttled"
    done = _when_finished(env, run)
    assert done.status is RunStatus.SUCCEEDED and done.attempts == 1
    assert len(env.sent()) == 1 and [d["run_id"] for d in env.sent("event")] == [run.id]


def _when_finished(env, run):
    """The run once it finished, the clock moved to each of the run queue's delays (20 at most)."""
    for _ in range(20):
        env.clock.advance(10)
        if env.services.runs.get(env.account, run.id).finished:
            break
        env.drain()
    return env.services.runs.get(env.account, run.id)


def _mail_then_event(env):
    """A manual automation that mails its contact, then emits an event."""
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Conditions

    return env.services.automations.create(env.account, AutomationDraft(
        title="Mail, then an event", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
        trigger_config=event_rules.trigger_config(None, Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),
                 Action("emit_event", {"detail_type": "loyalty.welcomed", "detail": {}}))))


def _outbox_steps(env, monkeypatch):
    """What the outbox and the senders are asked, in order: (step, delivery id, status given)."""
    steps = []

    def spy(owner, name, step):
        real = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda d, *a, **k: (steps.append((step, d.id, d.status.value)), real(d, *a, **k))[1])

    for name in ("put_new", "claim", "release", "finish"):
        spy(env.outbox, name, name)
    for sender in env.senders.values():
        spy(sender, "send", "send")
    return steps


def test_a_runs_first_delivery_is_stored_as_it_is_claimed(env, monkeypatch):
    """An email run's mail is stored already claimed (its pace slot booked before), then sent
    and recorded: one write where storing it pending and then claiming it took two."""
    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    steps = _outbox_steps(env, monkeypatch)
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED
    mail = f"{run.id}.0.0"
    assert [s for s in steps if s[1] == mail] == [("put_new", mail, "sending"), ("send", mail, "sending"),
                                                  ("finish", mail, "sending")]
    [stored] = _outbox(env, "email")
    assert stored["status"] == "sent" and stored["attempts"] == 1 and len(env.sent()) == 1


def test_a_runs_deliveries_are_all_stored_before_the_first_is_sent(env, monkeypatch):
    """Two events: the second is stored pending, then the first stored claimed and sent, then
    the second claimed and sent (a crash after the first send leaves the second for the relay)."""
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Conditions

    automation = env.services.automations.create(env.account, AutomationDraft(
        title="Two events", subject=SubjectKind.CONTACT, trigger=Trigger.MANUAL, conditions=Conditions(),
        trigger_config=event_rules.trigger_config(None, Delay(), None),
        actions=tuple(Action("emit_event", {"detail_type": f"loyalty.step_{n}", "detail": {"n": n}}) for n in (1, 2))))
    run = env.launcher.start_manual(env.account, automation, env.contact().uuid, data=None, occurrence="r1")
    steps = _outbox_steps(env, monkeypatch)
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and done.deliveries == (f"{run.id}.0.0", f"{run.id}.1.0")
    first, second = done.deliveries
    assert [s for s in steps if s[1] in (first, second)] == [
        ("put_new", second, "pending"), ("put_new", first, "sending"), ("send", first, "sending"),
        ("finish", first, "sending"), ("claim", second, "pending"), ("send", second, "sending"),
        ("finish", second, "sending")]
    assert {d["recipient"] for d in env.sent("event")} == {"loyalty.step_1", "loyalty.step_2", "automation.run.succeeded"}


def test_a_delivery_with_no_address_is_skipped_and_the_next_one_sent_first(env, monkeypatch):
    """A contact with no email: the run's mail is composed skipped and stays so (stored, never
    sent, never claimed), the event after it is the one stored claimed, and the run succeeds."""
    automation = _mail_then_event(env)
    contact = env.contact(email=None, phone="+15551234567")
    run = env.launcher.start_manual(env.account, automation, contact.uuid, data=None, occurrence="r1")
    steps = _outbox_steps(env, monkeypatch)
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and done.error is None
    mail, event = f"{run.id}.0.0", f"{run.id}.1.0"
    assert [s for s in steps if s[1] in (mail, event)] == [
        ("put_new", mail, "skipped"), ("put_new", event, "sending"), ("send", event, "sending"),
        ("finish", event, "sending")]
    [skipped] = _outbox(env, "email")
    assert skipped["status"] == "skipped" and skipped["error"] == "the contact has no email address"
    assert skipped["attempts"] == 0 and env.sent() == []
    assert "loyalty.welcomed" in {d["recipient"] for d in env.sent("event")}


def test_a_stored_run_that_cannot_be_read_is_set_aside_and_never_retried(env, caplog):
    from automations.adapters.dynamo_runs import runs_key

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann, bob = env.contact(), env.contact(email="bob@example.com")
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid, bob.uuid])
    env.ingest()
    runs = {r.subject_id: r for r in env.runs()}
    for run in runs.values():
        env.scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=run.id)  # both lost
    poison = runs[ann.uuid]
    boto3.client("dynamodb").update_item(
        TableName=config.table_name(), Key=runs_key(env.account, poison.id),
        UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
        ExpressionAttributeValues={":d": {"S": "{written by hand"}})
    env.clock.set(poison.due_at + timedelta(minutes=10))
    assert env.executor.redrive().done == 2
    done = env.drain()
    assert [r.status for r in done if r is not None] == [RunStatus.SUCCEEDED] and len(env.sent()) == 1
    assert env.executor.redrive().done == 0  # out of the DueIndex: no hourly retry for ever
    assert _logged(caplog, env.account, poison.id, "set aside")


def test_mail_is_paced_at_the_ses_rate_and_a_throttle_only_delays_its_run(env, monkeypatch):
    """SES (a stub over the real client) throttles beyond 2 sends a second, while SES says the
    account may send 3 (so the pace alone cannot keep every send under the stub's limit): every
    run ends sent, once, none before its time, none failed, and no throttle counted as an attempt."""
    from support import Refusal, error_answer

    from automations.adapters import aws
    from automations_local import resources

    monkeypatch.setattr(resources, "LOCAL_SES_SEND_RATE", 3.0)
    sends: dict[int, int] = {}

    def over_the_rate(request):
        second = int(clock.now().timestamp())
        sends[second] = sends.get(second, 0) + 1
        return sends[second] > 2

    env.rule(env.send_email(), delay=Delay(0, 0, 1))
    people = [env.contact(email=f"c{n}@example.com") for n in range(12)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    runs = env.runs()
    due = {run.id: run.due_at for run in runs}
    env.drain()
    assert env.sent() == []  # not before their time
    env.clock.set(max(due.values()))
    with Refusal(aws.client("sesv2"), "SendEmail", error_answer("TooManyRequestsException"), times=1000,
                 when=over_the_rate) as throttle:
        for _ in range(100):
            if all(run is None or run.finished for run in env.drain()) and all(r.finished for r in env.runs()):
                break
            env.clock.advance(2)
    assert throttle.refused > 0 and max(sends.values()) <= 3  # never more a second than SES allows the account
    runs = env.runs()
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED} and {run.attempts for run in runs} == {1}
    assert all(datetime.fromisoformat(next(h["at"] for h in run.history if h["event"] == "succeeded")
                                      .replace("Z", "+00:00")) >= due[run.id] for run in runs)
    assert any(h["event"] == "throttled" for run in runs for h in run.history)
    recipients = sorted(d["recipient"] for d in env.sent())
    assert recipients == sorted(p.email for p in people)  # each once


def test_runs_queued_while_sqs_throttles_the_batch_are_sent_again_and_run_once(env):
    """SQS answers SendMessageBatch with every entry failed (throttled) three times: the entries are
    sent again after a backoff; each run is queued, and executed, once."""
    from support import Refusal

    from automations.adapters import aws

    def all_failed(request):
        entries = json.loads(request["body"])["Entries"]
        return {"Successful": [], "ResponseMetadata": {"HTTPStatusCode": 200},
                "Failed": [{"Id": e["Id"], "Code": "RequestThrottled", "SenderFault": False} for e in entries]}

    env.rule(env.send_email())
    people = [env.contact(email=f"c{n}@example.com") for n in range(3)]
    env.ingest()
    with Refusal(aws.client("sqs"), "SendMessageBatch", all_failed, times=3,
                 when=lambda request: config.run_queue_url().encode() in request["body"]) as throttle:
        env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
        env.ingest()
    assert throttle.refused == 3
    assert [r.status for r in env.drain()] == [RunStatus.SUCCEEDED] * 3 and env.drain() == []
    assert sorted(d["recipient"] for d in env.sent()) == sorted(p.email for p in people)


def test_the_redrive_takes_every_shard_in_turn_and_hands_the_rest_on(env, monkeypatch):
    """Before, the hourly re-drive took 1,000 runs, shard 0 first: a big lost bucket starved the
    later shards and took days. Now each shard gives a page a round, and what is left when time
    runs short goes on through the run queue, until every due run is queued, each once."""
    from automations.adapters import dynamo_runs
    from automations.adapters.dynamo_runs import DynamoRunStore
    from automations.service import executing

    monkeypatch.setattr(executing, "REDRIVE_PAGE", 1)
    monkeypatch.setattr(dynamo_runs, "DUE_SHARDS", 3)  # 12 runs: some shards hold more than one
    monkeypatch.setattr(DynamoRunStore, "due_shards", 3)
    env.rule(env.send_email(), delay=Delay(1, 0, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(12)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    runs = env.runs()
    shards = {DynamoRunStore.due_shard(r) for r in runs}  # random run ids: 8 runs left a shard empty 1 time in 8
    assert len(shards) > 1
    env.clock.set(runs[0].due_at + timedelta(minutes=6))  # their schedules lost: none fired
    assert env.executor.redrive(has_time=lambda: False).done == len(shards)  # one round: a run of every shard
    queued = env.sqs.receive_message(QueueUrl=config.run_queue_url(), MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in queued]
    [rest] = [run_queue_message(b) for b in bodies if "redrive_before" in b]
    assert {DynamoRunStore.due_shard(next(r for r in runs if r.id == b["run_id"])) for b in bodies if "run_id" in b} \
        == shards
    for m in queued:
        env.sqs.delete_message(QueueUrl=config.run_queue_url(), ReceiptHandle=m["ReceiptHandle"])
    assert env.executor.redrive(rest).done == len(runs) - len(shards)  # the rest, from where the round left each shard
    env.executor.redrive(rest)  # the same continuation delivered twice: its runs queued again, run once
    for body in bodies:
        if "run_id" in body:
            env.executor.execute(body["account_id"], body["run_id"])
    env.drain()
    assert {r.status for r in env.runs()} == {RunStatus.SUCCEEDED}
    assert sorted(d["recipient"] for d in env.sent()) == sorted(p.email for p in people)


def test_a_retried_run_whose_mail_went_is_not_held_back_by_the_mails_pace(env, monkeypatch):
    """Mail, then an event: the mail goes, the event is throttled, so the run is delayed. Taken up
    again while SES's pace has no slot free, the run sends its event and succeeds: its mail went
    already, so no mail slot is taken (nor waited for) again."""
    from automations.domain.delivery import Channel, Throttled

    run = env.launcher.start_manual(env.account, _mail_then_event(env), env.contact().uuid, data=None, occurrence="r1")
    def throttled(delivery):
        raise Throttled("slow down")

    events, real_send = env.senders[Channel.EVENT], env.senders[Channel.EVENT].send
    monkeypatch.setattr(events, "send", throttled)
    [delayed] = env.drain()
    assert delayed.history[-1]["event"] == "throttled" and len(env.sent()) == 1
    monkeypatch.setattr(events, "send", real_send)
    taken = []
    monkeypatch.setattr(env.deliveries._pace, "take", lambda channel, *a: taken.append(channel))  # none free
    done = _when_finished(env, run)
    assert done.status is RunStatus.SUCCEEDED and taken == [] and len(env.sent()) == 1
    assert "loyalty.welcomed" in {d["recipient"] for d in env.sent("event")}



def _closing_join(env):
    """A mail rule open 9:00-17:00; Ann joins two seconds before Monday's closing: her run is due
    at once, inside the window."""
    env.rule(env.send_email(), window=SendWindow(ClockTime(9 * 60), ClockTime(17 * 60)))
    env.clock.set(datetime(2026, 11, 2, 16, 59, 58, tzinfo=NY))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    return run


def test_a_run_whose_mail_went_inside_its_window_finishes_after_closing_when_a_throttle_delayed_it(env):
    """SES takes the mail at 16:59:58, then DynamoDB throttles the write of its outcome: the run
    is delayed a few seconds, its attempt given back, and the next attempt comes after closing.
    It finishes what began inside the window (the mail settled, never sent again) rather than
    waiting, the mail "sending", until the window opens the next morning."""
    from support import Refusal, error_answer

    from automations.adapters import aws

    run = _closing_join(env)
    with Refusal(aws.client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: '"sent"' in str(request.get("body", ""))) as throttle:
        [delayed] = env.drain()
    assert throttle.refused == 1 and delayed.history[-1]["event"] == "throttled"
    done = _when_finished(env, run)
    assert done.status is RunStatus.SUCCEEDED and done.updated_at < datetime(2026, 11, 2, 17, 5, tzinfo=NY)
    assert "held" not in [h["event"] for h in done.history]
    [mail] = _outbox(env, "email")
    assert mail["status"] == "unconfirmed" and mail["attempts"] == 1 and len(_mails_to("ann@example.com")) == 1


def test_a_run_that_stopped_before_sending_anything_waits_for_its_window_when_taken_over_after_closing(env,
                                                                                                     monkeypatch):
    """The process dies at 16:59:58 before the run stored a delivery; the re-drive takes the run
    over after closing, its second attempt: nothing began inside the window, so it waits for the
    next opening rather than mailing at 17:10."""
    run = _closing_join(env)

    def dies(*args, **kwargs):
        raise _ProcessDied()

    monkeypatch.setattr(env.deliveries, "deliver", dies)
    with pytest.raises(_ProcessDied):
        env.drain()
    monkeypatch.undo()
    assert _outbox(env, "email") == []
    env.clock.advance(600)  # past the lease: the re-drive takes the run over
    assert env.executor.redrive().done == 1
    [held] = env.drain()
    assert held.id == run.id and held.status is RunStatus.SCHEDULED
    assert held.due_at == datetime(2026, 11, 3, 9, 0, tzinfo=NY) and held.history[-1]["event"] == "held"
    assert env.sent() == []
    env.clock.set(held.due_at)
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1


def test_a_run_a_throttle_delayed_measures_its_lateness_once_at_its_first_start(env, monkeypatch, capsys):
    """A throttle gives the attempt back, so the next one counts as the first again; its start is a
    retry's, late on purpose, not the run's firing lateness (which alarms past 5 minutes)."""
    from support import Refusal, error_answer
    from test_telemetry import emitted, metric

    from automations.adapters import aws

    monkeypatch.setenv("STACK_NAME", "automations-test")
    automation, ann = _manual(env), env.contact()
    run = env.launcher.start_manual(env.account, automation, ann.uuid, data=None, occurrence="r1")
    with Refusal(aws.client("dynamodb"), "UpdateItem", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: '"sent"' in str(request.get("body", ""))):
        [delayed] = env.drain()
    assert delayed.history[-1]["event"] == "throttled"
    env.clock.advance(400)
    assert _when_finished(env, run).status is RunStatus.SUCCEEDED
    lateness = metric(emitted(capsys.readouterr().out), "FiringLateness")
    assert [m["FiringLateness"] for m in lateness] == [[0.0]] and lateness[0]["run_id"] == run.id
