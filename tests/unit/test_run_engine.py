"""The run engine over moto: runs created once per trigger, scheduled on EventBridge Scheduler or
queued, executed exactly once, cancelled, chained into series, expanded from recurring and
date-field rules, retried, and re-driven when a schedule is lost."""
import json
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import boto3
import pytest

from automations import clock, config
from automations.domain.contact_rules import (
    ActionKind, ClockTime, ContactRule, DateFieldTrigger, Delay, Recurrence, RuleAction, SendWindow,
)
from automations.domain.contacts import GroupKind
from automations.domain.delivery import DeliveryStatus
from automations.domain.model import SubjectKind, Trigger
from automations.domain.run import RunStatus
from automations.errors import Conflict, NotFound

NY = ZoneInfo("America/New_York")
# Saturday 2026-10-31 08:00 in New York; DST ends there on Sunday 2026-11-01 at 02:00.
T0 = datetime(2026, 10, 31, 8, 0, tzinfo=NY)


@pytest.fixture
def moving():
    previous = clock.get_clock()
    moving = clock.MovableClock(T0, frozen=True)
    clock.set_clock(moving)
    yield moving
    clock.set_clock(previous)


class Env:
    def __init__(self, services, moving, template):
        self.services, self.clock, self.template = services, moving, template
        self.engine = services.run_engine
        boto3.client("ses").verify_email_identity(EmailAddress=config.sender_email())
        account, _ = services.accounts.create_account("Acme", "owner@acme.test", "America/New_York")
        self.account = account.id
        self.list = services.contact_lists.create(self.account, "Newsletter")
        self.email = services.templates.create(self.account, {
            "type": "email", "title": "Welcome", "subject": "Hi {{ contact.first_name }}",
            "text": "Welcome, {{ contact.first_name }}! {{ data.code }}"})
        self.sqs, self.scheduler = boto3.client("sqs"), boto3.client("scheduler")

    def contact(self, **values):
        return self.services.contacts.create(self.account, {"email": "ann@example.com", "first_name": "Ann", **values})

    def rule(self, action, trigger=Trigger.LIST_JOINED, source_id=None, **timing):
        rule = ContactRule(trigger=trigger, source_kind=GroupKind.LIST, source_id=source_id or self.list.id,
                           action=action, **timing)
        return self.services.contact_automations.create(self.account, rule)

    def send_email(self, template_id=None):
        return RuleAction(ActionKind.SEND_EMAIL, template_id=template_id or self.email.id)

    def join(self, contact, group=None):
        """The contact joins, and the join reaches the engine (through the ingestion queue)."""
        self.services.contact_lists.add_members(self.account, (group or self.list).id, [contact.uuid])
        self.ingest()

    def ingest(self):
        """Only the ingestion queue: runs are created, none executed."""
        from automations_local.queues import sqs_record
        from automations_local.router import invoke

        while messages := self.sqs.receive_message(QueueUrl=config.events_queue_url(), MaxNumberOfMessages=10,
                                                   AttributeNames=["All"]).get("Messages", []):
            arn = self.template.arn("EventsQueue")
            invoke(self.template.functions["EventsIngestFunction"],
                   {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
            for m in messages:
                self.sqs.delete_message(QueueUrl=config.events_queue_url(), ReceiptHandle=m["ReceiptHandle"])

    def runs(self, contact=None, status=None):
        runs, _ = self.services.runs.list(self.account, subject=(SubjectKind.CONTACT, contact.uuid) if contact else None,
                                          status=status, limit=100)
        return runs

    def schedules(self):
        pages = self.scheduler.get_paginator("list_schedules").paginate(GroupName=config.run_schedule_group())
        return [self.scheduler.get_schedule(GroupName=config.run_schedule_group(), Name=s["Name"])
                for page in pages for s in page["Schedules"]]

    def drain(self):
        """Deliver what the ingestion queue holds to its function (joins become runs), then execute
        what the run queue holds, as their Lambda event sources would; the runs executed."""
        done = []
        while True:
            self.ingest()
            got = self.sqs.receive_message(QueueUrl=config.run_queue_url(), MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return done
            for m in messages:
                body = json.loads(m["Body"])
                done.append(self.engine.execute(body["account_id"], body["run_id"]))
                self.sqs.delete_message(QueueUrl=config.run_queue_url(), ReceiptHandle=m["ReceiptHandle"])

    def fire_due_schedules(self):
        """Invoke the executor for each one-time schedule whose instant has come, as Scheduler does."""
        fired = []
        for s in self.schedules():
            at = datetime.fromisoformat(s["ScheduleExpression"][3:-1]).replace(tzinfo=timezone.utc)
            if at <= clock.now():
                payload = json.loads(s["Target"]["Input"])
                fired.append(self.engine.execute(payload["account_id"], payload["run_id"]))
                self.scheduler.delete_schedule(GroupName=s["GroupName"], Name=s["Name"])
        return fired

    def sent(self, channel="email"):
        from automations_local.outbox import deliveries

        return [d for d in deliveries(channel=channel, account_id=self.account) if d["status"] == "sent"]


@pytest.fixture
def env(services, moving, aws):
    return Env(services, moving, aws)


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
    assert env.engine.execute(env.account, run.id).status is RunStatus.SCHEDULED  # early: nothing happens
    assert env.sent() == []
    env.clock.set(run.due_at)
    [done] = env.fire_due_schedules()
    assert done.status is RunStatus.SUCCEEDED
    [mail] = env.sent()
    assert (mail["recipient"], mail["subject"], mail["body"]) == ("ann@example.com", "Hi Ann", "Welcome, Ann! ")
    assert env.engine.execute(env.account, run.id).status is RunStatus.SUCCEEDED  # a second delivery: no-op
    assert len(env.sent()) == 1 and len(env.sent("event")) == 1  # automation.run.succeeded, once
    assert [h["event"] for h in env.services.runs.get(env.account, run.id).history] == \
        ["scheduled", "started", "succeeded"]


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
    env.engine.on_contact_events(event)  # the same join replayed (a retry, a catch-up)
    env.engine.on_contact_events(event)
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
    assert env.engine.execute(env.account, scheduled.id).status is RunStatus.CANCELLED
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
            results["executed"] = env.engine.execute(env.account, run.id)

        def cancel():
            go.wait()
            try:
                results["cancelled"] = env.engine.cancel(env.account, run.id)
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
    store = env.engine._deliveries._store
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
    assert env.engine.redrive() == 1
    [again] = env.drain()
    assert again.status is RunStatus.SUCCEEDED
    [mail] = [d for d in _outbox(env, "email")]
    assert mail["status"] == "unconfirmed" and mail["attempts"] == 1
    from automations_local.outbox import ses_messages

    assert len([m for m in ses_messages("us-east-1") if "ann@example.com" in m["destinations"]["ToAddresses"]]) == 1


def _outbox(env, channel):
    from automations_local.outbox import deliveries

    return deliveries(channel=channel, account_id=env.account)


def test_a_lost_schedule_is_redriven_by_the_sweep(env):
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    env.scheduler.delete_schedule(GroupName=config.run_schedule_group(), Name=run.id)  # lost
    env.clock.set(run.due_at + timedelta(minutes=1))
    assert env.engine.redrive() == 0  # within the grace: the schedule may still be coming
    env.clock.set(run.due_at + timedelta(minutes=10))
    assert env.engine.redrive() == 1
    [done] = env.drain()
    assert done.status is RunStatus.SUCCEEDED and len(env.sent()) == 1
    assert env.engine.redrive() == 0  # finished runs leave the index


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


def test_recurring_rules_get_a_schedule_that_follows_them(env):
    weekly = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                      recurrence=Recurrence("monday", ClockTime(9 * 60), False))
    [schedule] = env.schedules()
    assert schedule["ScheduleExpression"] == "cron(0 9 ? * MON *)"
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York" and schedule["State"] == "ENABLED"
    env.services.automations.update(env.account, weekly.id, _changes(active=False))
    assert env.schedules()[0]["State"] == "DISABLED"
    env.services.automations.delete(env.account, weekly.id)
    assert env.schedules() == []


def test_a_recurring_firing_runs_each_member_once_and_only_on_its_days(env):
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                     recurrence=Recurrence("daily", ClockTime(9 * 60), True))
    members = [env.contact(email=f"m{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [m.uuid for m in members])
    saturday = datetime(2026, 10, 31, 9, 0, tzinfo=NY)
    assert env.engine.expand(env.account, daily.id, fired_at=saturday) is None
    assert env.drain() == []  # weekday_only: nothing on a Saturday
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=NY)
    env.clock.set(monday)
    cursor = env.engine.expand(env.account, daily.id, fired_at=monday, page_size=2)
    assert cursor is not None
    assert env.engine.expand(env.account, daily.id, fired_at=monday, cursor=cursor, page_size=2) is None
    env.engine.expand(env.account, daily.id, fired_at=monday)  # a duplicate firing: queued again, no new run
    assert len({run.id for run in env.drain()}) == 3 and len(env.sent()) == 3 and len(env.runs()) == 3


def test_a_birthday_rule_fires_once_a_year_and_feb_29_on_feb_28(env):
    birthday = env.services.custom_fields.create(env.account, "Birthday", "contact", "date")
    rule = env.rule(env.send_email(), trigger=Trigger.DATE_FIELD,
                    date_field=DateFieldTrigger(birthday.id, ClockTime(9 * 60)))
    leap = env.contact(email="leap@example.com", custom_fields={str(birthday.id): "2000-02-29"})
    other = env.contact(email="other@example.com", custom_fields={str(birthday.id): "1990-03-05"})
    env.services.contact_lists.add_members(env.account, env.list.id, [leap.uuid, other.uuid])
    planned = {}
    day = datetime(2027, 1, 1, 0, 0, tzinfo=NY)
    while day.year == 2027:  # every daily firing of a year
        env.clock.set(day)
        env.engine.expand(env.account, rule.id, fired_at=day)
        day += timedelta(days=1)
    for run in env.runs():
        planned.setdefault(run.subject_id, []).append(run.due_at.astimezone(NY))
    assert planned == {leap.uuid: [datetime(2027, 2, 28, 9, 0, tzinfo=NY)],
                       other.uuid: [datetime(2027, 3, 5, 9, 0, tzinfo=NY)]}


def test_a_failing_channel_is_retried_then_fails_the_run_with_the_reason(env):
    text = env.services.templates.create(env.account, {"type": "text", "title": "Ping", "body": "Hi"})
    env.rule(RuleAction(ActionKind.SEND_TEXT, template_id=text.id))
    ann = env.contact(phone="+14155550100")
    senders = env.engine._deliveries._senders
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
            env.engine.redrive()
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


def test_cancel_through_the_api_rules(env, services):
    env.rule(env.send_email(), delay=Delay(0, 1, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs(ann)
    other, _ = services.accounts.create_account("Other", "o@other.test")
    with pytest.raises(NotFound):
        env.engine.cancel(other.id, run.id)
    assert env.engine.cancel(env.account, run.id).status is RunStatus.CANCELLED
    assert env.engine.cancel(env.account, run.id).status is RunStatus.CANCELLED  # a retried cancel: same answer
    bob = env.contact(email="bob@example.com")
    env.join(bob)
    [bobs] = env.runs(bob)
    env.clock.set(bobs.due_at)
    env.fire_due_schedules()
    with pytest.raises(Conflict):
        env.engine.cancel(env.account, bobs.id)  # done already
    with pytest.raises(NotFound):
        env.engine.cancel(env.account, "run_nope")


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
    def outage(*args, **kwargs):
        raise ConnectionError("Scheduler unreachable")

    monkeypatch.setattr(env.engine._scheduler, "put_recurring", outage)
    weekly = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                      recurrence=Recurrence("friday", ClockTime(17 * 60), False))  # saved despite the outage
    assert env.services.automations.get(env.account, weekly.id).active and env.schedules() == []
    monkeypatch.undo()
    env.engine.hourly_check_later([env.account])
    message = env.sqs.receive_message(QueueUrl=config.expand_queue_url())["Messages"][0]
    assert json.loads(message["Body"]) == {"account_id": env.account, "hourly_check": True}
    assert env.engine.check_schedules(env.account) == 1
    [schedule] = env.schedules()
    assert schedule["ScheduleExpression"] == "cron(0 17 ? * FRI *)" and schedule["State"] == "ENABLED"
    assert env.engine.check_schedules(env.account) == 1 and len(env.schedules()) == 1  # idempotent


def test_joins_whose_hand_off_was_lost_get_their_runs_from_the_hourly_check(env):
    env.rule(env.send_email(), delay=Delay(0, 3, 0))
    ann, bob = env.contact(), env.contact(email="bob@example.com")
    env.join(ann)  # handed off and made into a run
    env.services.contact_lists.add_members(env.account, env.list.id, [bob.uuid])
    env.sqs.purge_queue(QueueUrl=config.events_queue_url())  # the hand-off of bob's join is lost
    assert [r.subject_id for r in env.runs()] == [ann.uuid]
    assert env.engine.hourly_check(env.account) == {"schedules": 0, "caught_up_runs": 1}
    assert sorted(r.subject_id for r in env.runs()) == sorted([ann.uuid, bob.uuid])
    assert env.engine.hourly_check(env.account) == {"schedules": 0, "caught_up_runs": 0}  # nothing twice
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
        run = env.engine.start_manual(env.account, automation, ann.uuid, data={"credits": 50}, occurrence="req-1")
        assert env.engine.start_manual(env.account, automation, ann.uuid, data={"credits": 50},
                                       occurrence="req-1").id == run.id  # a retried request: the same run
        [done] = {r.id: r for r in env.drain()}.values()
        assert done.status is RunStatus.SUCCEEDED and len(done.deliveries) == 2
        [(headers, body)] = receiver.requests
        assert json.loads(body) == {"who": "ann@example.com"} and headers[DELIVERY_HEADER] == f"{run.id}.0.0"
        events = {d["recipient"]: d for d in env.sent("event")}
        assert json.loads(events["loyalty.credits_requested"]["body"]) == {"credits": "50", "contact": ann.uuid}
        assert json.loads(events["automation.run.succeeded"]["body"])["run_id"] == run.id
        with pytest.raises(NotFound):
            env.engine.start_manual(env.account, automation, "00000000-0000-4000-8000-000000000000", data=None,
                                    occurrence="req-2")
    finally:
        receiver.close()


def test_event_automations_run_when_their_conditions_match(env):
    from automations.domain import event_rules
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions

    env.services.automations.create(env.account, AutomationDraft(
        title="Big spender", subject=SubjectKind.CONTACT, trigger=Trigger.EVENT,
        conditions=Conditions(all=(Condition("data.total", "greater_than", 100),)),
        trigger_config=event_rules.trigger_config("shop.order_placed", Delay(), None),
        actions=(Action("send_email", {"template_id": env.email.id}),)))
    ann = env.contact()
    assert env.engine.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 20}, event_id="e1") == []
    assert env.engine.on_event(env.account, "shop.other", ann.uuid, data={"total": 500}, event_id="e2") == []
    [run] = env.engine.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 500}, event_id="e3")
    assert env.engine.on_event(env.account, "shop.order_placed", ann.uuid, data={"total": 500},
                               event_id="e3")[0].id == run.id  # redelivered: no second run
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
    assert env.engine.hourly_check(env.account) == {"schedules": 0, "caught_up_runs": 1}
    env.drain()
    assert len(env.runs(ann)) == 2 and len(env.sent()) == 2
    assert env.engine.hourly_check(env.account)["caught_up_runs"] == 0  # nothing twice
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
