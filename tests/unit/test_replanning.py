"""A waiting run follows what its send time depends on (issue 27): its rule's window and its
contact's zone (else the account's) as they are when it sends. The executor holds a run to them;
a change re-plans the runs it touches (also earlier); a changed delay, a changed recurring time
or date-field rule leave runs already made where they are. Moves are conditional writes: a
re-plan racing the executor, another re-plan or its own redelivery never sends twice or loses
the run. Over moto, through the services; pure properties over the whole tz database."""
import json
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from simulator import NY, instant
from test_run_engine import _logged
from test_timing import ZONES, delays, instants, windows

from automations import config
from automations.domain import timing
from automations.domain.contact_rules import (
    ClockTime, ContactRule, DateFieldTrigger, Delay, Recurrence, SendWindow,
)
from automations.domain.contacts import GroupKind
from automations.domain.messages import expand_queue_message
from automations.domain.model import Trigger
from automations.domain.run import RunStatus

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_EVENING = datetime(2026, 11, 2, 20, 0, tzinfo=NY)  # EST (UTC-5) since Sunday


def window(start_hour, end_hour):
    return SendWindow(ClockTime(start_hour * 60), ClockTime(end_hour * 60))


def joined(env, rule_timing, **contact):
    """A rule of ``rule_timing`` on a list of its own, and a contact who joins it now: (rule, run)."""
    group = env.services.contact_lists.create(env.account, f"List {len(env.runs())}")
    rule = env.rule(env.send_email(), source_id=group.id, **rule_timing)
    person = env.contact(email=f"c{len(env.runs())}@example.com", **contact)
    env.join(person, group)
    [run] = env.runs(person)
    return rule, run


def rewindowed(env, rule, new_window, replans=True, **rule_timing):
    """The rule (a list rule) saved with another window, and what that queued for the expander
    done (or lost, with ``replans`` false)."""
    env.services.contact_automations.update(env.account, rule.id, ContactRule(
        trigger=Trigger.LIST_JOINED, source_kind=GroupKind.LIST, source_id=rule.trigger_config["source"]["id"],
        action=env.send_email(),
        window=new_window, **rule_timing))
    expander(env) if replans else lost(env)


def expander(env):
    """What waits on the expand queue, delivered to the rule expander function (as its event
    source would): firings, hourly checks, and re-plans of a rule's waiting runs."""
    from automations_local.lambdas import invoke
    from automations_local.queues import sqs_record

    while messages := env.sqs.receive_message(QueueUrl=config.expand_queue_url(),
                                              MaxNumberOfMessages=10).get("Messages", []):
        arn = env.template.arn("ExpandQueue")
        answer = invoke(env.template.functions["RuleExpanderFunction"],
                        {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
        assert answer == {"batchItemFailures": []}, answer
        for m in messages:
            env.sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])


def lost(env):
    """What waits on the expand queue, lost (a crash between a change and its hand-off)."""
    tasks = []
    while messages := env.sqs.receive_message(QueueUrl=config.expand_queue_url(),
                                              MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            tasks.append(json.loads(m["Body"]))
            env.sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])
    return tasks


def current(env, run):
    return env.services.runs.get(env.account, run.id)


def sent_at(env, run):
    """When the run sent (it succeeded once)."""
    done = current(env, run)
    [at] = [h["at"] for h in done.history if h["event"] == "succeeded"]
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def schedules_of(env, run):
    return sorted((s["Name"], instant(s)) for s in env.schedules() if s["Name"].startswith(run.id))


def test_a_contact_who_moves_to_tokyo_is_sent_inside_the_window_in_tokyo(env):
    """The issue's first case: due Wednesday 09:00 New York (22:00 in Tokyo, outside the window
    the contact now lives in); in Tokyo the delay ends Wednesday 10:00, inside it."""
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="America/New_York")
    assert run.due_at == datetime(2026, 11, 4, 9, 0, tzinfo=NY)
    env.clock.advance(2 * 3600)
    env.services.contacts.update(env.account, run.subject_id, {"timezone": "Asia/Tokyo"})
    expander(env)  # the change queued the re-plan of the contact's waiting runs
    moved = current(env, run)
    assert moved.due_at == datetime(2026, 11, 4, 10, 0, tzinfo=TOKYO)  # earlier: Wednesday 01:00 UTC
    assert moved.moves == 1 and [h["event"] for h in moved.history] == ["scheduled", "moved"]
    # The old schedule is gone; the move has its own.
    assert schedules_of(env, run) == [(f"{run.id}-moved1", moved.due_at)]
    # The dry run reads the zone as it is now too: triggered now, Tuesday 12:00 in Tokyo, plus a day.
    dry = env.services.dry_run.contact(rule, run.subject_id, None)
    assert dry["due_at"] == env.clock.now() + timedelta(days=1)
    assert timing.wall_time(dry["due_at"], TOKYO)[0] == date(2026, 11, 4)

    env.live_until(datetime(2026, 11, 6, tzinfo=UTC))
    assert len(env.sent()) == 1 and sent_at(env, run) == moved.due_at


def test_a_window_narrowed_to_13_15_moves_the_run_that_waits_for_nine(env):
    """The issue's second case: the rule's window goes from 09:00-17:00 to 13:00-15:00 while a
    run waits for the 09:00 opening."""
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"window": window(9, 17)})  # the contact has no zone: the account's
    assert run.due_at == datetime(2026, 11, 3, 9, 0, tzinfo=NY)
    env.clock.advance(3600)
    rewindowed(env, rule, window(13, 15))
    moved = current(env, run)
    assert moved.due_at == datetime(2026, 11, 3, 13, 0, tzinfo=NY) and moved.moves == 1
    assert schedules_of(env, run) == [(f"{run.id}-moved1", moved.due_at)]
    env.live_until(datetime(2026, 11, 5, tzinfo=UTC))
    assert len(env.sent()) == 1 and sent_at(env, run) == moved.due_at


@pytest.mark.parametrize("change", ["zone", "window"])
def test_the_executor_holds_a_run_to_the_window_and_zone_of_now_when_a_re_plan_was_lost(env, change):
    """A change whose re-plan never happened (a crash between the change and its hand-off): at its
    old time the run is outside the window as it is now, so it waits for the next opening."""
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="America/New_York")
    if change == "zone":
        env.services.contacts.update(env.account, run.subject_id, {"timezone": "Asia/Tokyo"})
        lost(env)
        held_until = datetime(2026, 11, 5, 9, 0, tzinfo=TOKYO)  # 09:00 New York is 23:00 in Tokyo
    else:
        rewindowed(env, rule, window(13, 15), replans=False, delay=Delay(1, 0, 0))
        held_until = datetime(2026, 11, 4, 13, 0, tzinfo=NY)
    assert current(env, run).due_at == run.due_at  # not re-planned
    env.live_until(run.due_at)
    held = current(env, run)
    assert env.sent() == [] and held.status is RunStatus.SCHEDULED and held.due_at == held_until
    assert [h["event"] for h in held.history] == ["scheduled", "started", "held"] and held.attempts == 0
    assert schedules_of(env, run) == [(f"{run.id}-moved1", held_until)]
    env.live_until(held_until + timedelta(days=1))
    assert len(env.sent()) == 1 and sent_at(env, run) == held_until


def test_a_run_moves_earlier_but_never_before_its_trigger_plus_its_delay(env):
    env.clock.set(datetime(2026, 11, 2, 8, 0, tzinfo=NY))
    rule, run = joined(env, {"delay": Delay(0, 2, 0), "window": window(13, 15)})
    assert run.due_at == datetime(2026, 11, 2, 13, 0, tzinfo=NY)
    env.clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=NY))
    rewindowed(env, rule, window(9, 17), delay=Delay(0, 2, 0))
    assert current(env, run).due_at == datetime(2026, 11, 2, 10, 0, tzinfo=NY)  # not 09:00: joined + 2 h
    env.clock.set(datetime(2026, 11, 2, 9, 30, tzinfo=NY))
    rewindowed(env, rule, window(8, 18), delay=Delay(0, 2, 0))
    assert current(env, run).moves == 1  # 10:00 still: nothing to move
    env.live_until(datetime(2026, 11, 2, 10, 30, tzinfo=NY))
    assert sent_at(env, run) == datetime(2026, 11, 2, 10, 0, tzinfo=NY) and len(env.sent()) == 1

    # A run whose new window is open now goes now.
    env.clock.set(datetime(2026, 11, 2, 11, 0, tzinfo=NY))
    late, waiting = joined(env, {"window": window(13, 15)})
    assert waiting.due_at == datetime(2026, 11, 2, 13, 0, tzinfo=NY)
    env.clock.set(datetime(2026, 11, 2, 11, 30, tzinfo=NY))
    rewindowed(env, late, window(9, 17))
    assert current(env, waiting).due_at == env.clock.now()
    env.drain()
    assert sent_at(env, waiting) == env.clock.now() and len(env.sent()) == 2


def test_a_changed_delay_leaves_waiting_runs_on_the_delay_they_were_made_with(env):
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"delay": Delay(1, 0, 0)})
    assert run.due_at == MONDAY_EVENING + timedelta(days=1)
    rewindowed(env, rule, None, delay=Delay(3, 0, 0))
    assert current(env, run).due_at == run.due_at and env.sent() == []
    # With a window too: re-planned from the old delay (Tuesday 20:00, then Wednesday's opening),
    # not from the new one (Monday 20:00, then Tuesday's opening).
    rewindowed(env, rule, window(9, 17), delay=Delay(0, 0, 0))
    assert current(env, run).due_at == datetime(2026, 11, 4, 9, 0, tzinfo=NY)
    newcomer = env.contact(email="new@example.com")
    env.join(newcomer, env.services.contact_lists.get(env.account, rule.trigger_config["source"]["id"]))
    assert env.runs(newcomer)[0].due_at == datetime(2026, 11, 3, 9, 0, tzinfo=NY)  # the new delay: none


def test_a_changed_recurring_time_moves_the_next_firing_not_the_runs_it_made(env):
    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING, delay=Delay(0, 2, 0),
                     recurrence=Recurrence("daily", ClockTime(9 * 60), False))
    ann = env.contact()
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid])
    env.live_until(datetime(2026, 11, 2, 9, 30, tzinfo=NY))
    monday = [r for r in env.runs(ann) if r.occurrence == "recurring:2026-11-02"]
    assert [r.due_at for r in monday] == [datetime(2026, 11, 2, 11, 0, tzinfo=NY)]
    env.services.contact_automations.update(env.account, daily.id, ContactRule(
        trigger=Trigger.RECURRING, source_kind=GroupKind.LIST, source_id=env.list.id, action=env.send_email(),
        delay=Delay(0, 2, 0), recurrence=Recurrence("daily", ClockTime(10 * 60), False)))
    expander(env)
    assert current(env, monday[0]).due_at == monday[0].due_at  # fired at 09:00: it keeps its time
    # The next firing is today's at 10:00: it makes no second run of a day that fired already.
    [firing] = [s for s in env.schedules() if s["Name"].startswith("rule_")]
    assert firing["Name"].endswith(".2026-11-02") and instant(firing) == datetime(2026, 11, 2, 10, 0, tzinfo=NY)
    env.live_until(datetime(2026, 11, 2, 12, 0, tzinfo=NY))
    assert [r.id for r in env.runs(ann) if r.occurrence == "recurring:2026-11-02"] == [monday[0].id]
    assert sent_at(env, monday[0]) == monday[0].due_at


def test_a_changed_date_field_time_leaves_the_anniversaries_planned_for_the_day(env):
    birthday = env.services.custom_fields.create(env.account, "Birthday", "contact", "date")
    rule = env.rule(env.send_email(), trigger=Trigger.DATE_FIELD, date_field=DateFieldTrigger(birthday.id,
                                                                                              ClockTime(9 * 60)))
    ann = env.contact(custom_fields={str(birthday.id): "1990-11-03"})
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid])
    env.live_until(datetime(2026, 11, 3, 0, 0, tzinfo=UTC))  # the firing an hour before 3 November (UTC)
    [run] = env.runs(ann)
    assert run.due_at == datetime(2026, 11, 3, 9, 0, tzinfo=NY)
    env.services.contact_automations.update(env.account, rule.id, ContactRule(
        trigger=Trigger.DATE_FIELD, source_kind=GroupKind.LIST, source_id=env.list.id, action=env.send_email(),
        date_field=DateFieldTrigger(birthday.id, ClockTime(15 * 60))))
    expander(env)
    env.live_until(datetime(2026, 11, 4, 12, 0, tzinfo=UTC))
    assert [r.id for r in env.runs(ann)] == [run.id] and sent_at(env, run) == run.due_at and len(env.sent()) == 1


def test_a_changed_account_zone_re_plans_the_runs_of_contacts_without_one_and_moves_recurring_firings(env):
    env.clock.set(MONDAY_EVENING)
    _, ann = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)})  # no zone: the account's
    _, paris = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="Europe/Paris")
    env.rule(env.send_email(), trigger=Trigger.RECURRING, recurrence=Recurrence("daily", ClockTime(9 * 60), False))
    moved = env.services.accounts.change_timezone(env.account, "Asia/Tokyo")
    assert (moved.timezone, moved.previous_timezone) == ("Asia/Tokyo", "America/New_York")
    assert env.hourly.hourly_check(env.account)["zone_followed"] == 1  # the account's hourly check follows it
    expander(env)
    assert env.services.accounts.get_account(env.account).previous_timezone is None
    assert env.hourly.hourly_check(env.account)["zone_followed"] == 0 and lost(env) == []  # done once
    assert current(env, ann).due_at == datetime(2026, 11, 4, 10, 0, tzinfo=TOKYO)
    assert current(env, paris).due_at == paris.due_at and current(env, paris).moves == 0
    [firing] = [s for s in env.schedules() if s["Name"].startswith("rule_")]
    assert instant(firing) == datetime(2026, 11, 4, 9, 0, tzinfo=TOKYO)  # Tuesday 09:00 Tokyo has passed
    assert env.services.accounts.change_timezone(env.account, "Asia/Tokyo").timezone == "Asia/Tokyo"  # no-op
    with pytest.raises(Exception, match="not an IANA time zone"):
        env.services.accounts.change_timezone(env.account, "Mars/Olympus")


def test_only_a_zone_change_re_plans_and_one_whose_hand_off_failed_is_re_planned_by_the_hourly_check(
        env, monkeypatch):
    env.clock.set(MONDAY_EVENING)
    _, run = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="America/New_York")
    env.services.contacts.update(env.account, run.subject_id, {"first_name": "Annie"})
    assert lost(env) == []  # nothing else a contact holds moves its runs

    def outage(tasks):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(env.run_queue, "expand_later", outage)
    env.services.contacts.update(env.account, run.subject_id, {"timezone": "Asia/Tokyo"})  # saved all the same
    monkeypatch.undo()
    assert env.services.contacts.get(env.account, run.subject_id).timezone == "Asia/Tokyo"
    assert current(env, run).due_at == run.due_at
    env.clock.advance(3600)
    env.hourly.hourly_check(env.account)  # reads the change from the contact event log
    assert current(env, run).due_at == datetime(2026, 11, 4, 10, 0, tzinfo=TOKYO)
    env.hourly.hourly_check(env.account)  # and again an hour later: nothing more moves
    assert current(env, run).moves == 1


def test_a_re_plan_racing_the_executor_sends_once_and_loses_nothing(env, monkeypatch):
    """The re-plan read the run; before it writes, the executor claims it (and, the zone having
    changed, holds it to Tokyo's opening). The re-plan's write loses, it reads the run again and
    finds it where it belongs: one move, one send."""
    env.clock.set(MONDAY_EVENING)
    _, run = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="America/New_York")
    env.clock.set(run.due_at)
    store, replace_ = env.run_store, env.run_store.replace
    raced = []

    def executor_first(old, new, *deliveries):
        if new.history[-1]["event"] == "moved" and not raced:
            raced.append(env.executor.execute(env.account, run.id))
        return replace_(old, new, *deliveries)

    monkeypatch.setattr(store, "replace", executor_first)
    env.services.contacts.update(env.account, run.subject_id, {"timezone": "Asia/Tokyo"})
    expander(env)
    [held] = raced
    assert held.status is RunStatus.SCHEDULED and held.due_at == datetime(2026, 11, 5, 9, 0, tzinfo=TOKYO)
    after = current(env, run)
    assert after.version == held.version and [h["event"] for h in after.history][-1] == "held"
    env.live_until(datetime(2026, 11, 6, tzinfo=UTC))
    assert len(env.sent()) == 1 and sent_at(env, run) == held.due_at


def test_an_executor_whose_claim_loses_to_a_re_plan_leaves_the_run_to_its_new_time(env, monkeypatch):
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"window": window(9, 17)})
    env.clock.set(run.due_at)
    store, replace_ = env.run_store, env.run_store.replace
    moved = []

    def re_plan_first(old, new, *deliveries):
        if new.status is RunStatus.RUNNING and not moved:  # the executor read the run and claims it
            moved.append(True)
            rewindowed(env, rule, window(13, 15))
        return replace_(old, new, *deliveries)

    monkeypatch.setattr(store, "replace", re_plan_first)
    assert env.executor.execute(env.account, run.id) is None  # the claim lost: nothing sent
    assert env.sent() == [] and current(env, run).due_at == datetime(2026, 11, 3, 13, 0, tzinfo=NY)
    env.live_until(datetime(2026, 11, 4, tzinfo=UTC))
    assert len(env.sent()) == 1 and sent_at(env, run) == datetime(2026, 11, 3, 13, 0, tzinfo=NY)


def test_concurrent_and_redelivered_re_plans_move_a_run_once(env, monkeypatch):
    env.clock.set(MONDAY_EVENING)
    rule, run = joined(env, {"window": window(9, 17)})
    env.services.contact_automations.update(env.account, rule.id, ContactRule(
        trigger=Trigger.LIST_JOINED, source_kind=GroupKind.LIST, source_id=rule.trigger_config["source"]["id"],
        action=env.send_email(), window=window(13, 15)))
    from automations.adapters.shards import DUE_SHARDS, shard_of

    tasks = lost(env)  # one per shard of the rule's waiting runs
    assert sorted(t["shard"] for t in tasks) == list(range(DUE_SHARDS))
    [task] = [t for t in tasks if t["shard"] == shard_of(run.id, DUE_SHARDS)]
    store, replace_ = env.run_store, env.run_store.replace
    both_read = threading.Barrier(2, timeout=30)

    def together(old, new, *deliveries):
        if new.history[-1]["event"] == "moved" and old.version == run.version:
            both_read.wait()  # each re-plan read version 1 before either writes
        return replace_(old, new, *deliveries)

    monkeypatch.setattr(store, "replace", together)
    task = expand_queue_message(task)
    threads = [threading.Thread(target=env.replanning.replan_page, args=(task,)) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    once = current(env, run)
    assert once.moves == 1 and once.version == run.version + 1 and once.due_at == datetime(2026, 11, 3, 13, 0,
                                                                                            tzinfo=NY)
    env.replanning.replan_page(task)  # the message delivered again
    assert current(env, run).version == once.version
    assert schedules_of(env, run) == [(f"{run.id}-moved1", once.due_at)]


def test_a_crash_between_a_move_and_its_schedule_leaves_the_run_to_the_re_drive(env):
    env.clock.set(MONDAY_EVENING)
    _, run = joined(env, {"delay": Delay(1, 0, 0), "window": window(9, 17)}, timezone="America/New_York")

    from automations.service.replanning import Replanner

    def crash(runs):
        raise ConnectionError("the process died after the move")

    crashing = Replanner(store=env.run_store, accounts=env.services.accounts, automations=env.services.automations,
                         contacts=env.services.contacts, queue=env.run_queue, scheduler=env.run_scheduler,
                         hand_on=crash)
    env.services.contacts.update(env.account, run.subject_id, {"timezone": "Asia/Tokyo"})
    [message] = env.sqs.receive_message(QueueUrl=config.expand_queue_url()).get("Messages", [])
    task = expand_queue_message(message["Body"])
    with pytest.raises(ConnectionError):
        crashing.replan_page(task)
    moved = current(env, run)
    assert moved.due_at == datetime(2026, 11, 4, 10, 0, tzinfo=TOKYO) and schedules_of(env, run) == [
        (run.id, run.due_at)]  # moved, but only its old (later) schedule
    env.replanning.replan_page(task)  # the message delivered again: the run is where it belongs
    assert current(env, run).version == moved.version
    env.clock.set(moved.due_at + timedelta(minutes=10))
    assert env.executor.redrive().done == 1 and env.sent() == []  # never before its time...
    env.drain()
    assert len(env.sent()) == 1  # ...and not lost
    env.live_until(datetime(2026, 11, 6, tzinfo=UTC))  # the old schedule fires: the run is done
    assert len(env.sent()) == 1


def test_a_waiting_run_that_cannot_be_re_planned_fails_alone(env, caplog):
    """One run cannot be read, another holds no time to re-plan from (both written by hand): each
    is logged and left to the executor; the third is re-planned."""
    from automations.adapters.dynamo_runs import run_document, runs_key

    env.clock.set(MONDAY_EVENING)
    group = env.services.contact_lists.create(env.account, "All")
    rule = env.rule(env.send_email(), source_id=group.id, window=window(9, 17))
    people = [env.contact(email=f"p{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, group.id, [p.uuid for p in people])
    env.ingest()
    unreadable, timeless, healthy = (env.runs(p)[0] for p in people)
    for run, data in ((unreadable, "{written by hand"),
                      (timeless, json.dumps({**run_document(timeless), "due_at": None, "not_before": None}))):
        boto3.client("dynamodb").update_item(
            TableName=config.table_name(), Key=runs_key(env.account, run.id),
            UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":d": {"S": data}})
    rewindowed(env, rule, window(13, 15))
    assert current(env, healthy).due_at == datetime(2026, 11, 3, 13, 0, tzinfo=NY)
    assert _logged(caplog, "unreadable run", unreadable.id)
    assert _logged(caplog, timeless.id, "could not be re-planned") and current(env, timeless).moves == 0


# -- properties ---------------------------------------------------------------------------------------
# Pairs of zones: any two of the tz database's changing zones (and fixed odd ones), or a move
# across the date line.
DATE_LINE = [ZoneInfo(z) for z in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Pacific/Apia", "Pacific/Auckland",
                                   "America/Adak", "Pacific/Chatham", "Pacific/Tongatapu", "Pacific/Honolulu")]
zone_pairs = st.one_of(st.tuples(st.sampled_from(ZONES), st.sampled_from(ZONES)),
                       st.tuples(st.sampled_from(DATE_LINE), st.sampled_from(DATE_LINE)))
FAST = settings(max_examples=300, deadline=None)


def admitted(window_, zone, instant):
    return window_ is None or window_.admits(timing.wall_time(instant, zone)[1])


@FAST
@given(zone_pairs, instants, delays, st.none() | windows, st.none() | windows, st.floats(0, 1))
def test_a_re_plan_sends_inside_the_current_window_never_before_trigger_plus_delay(zones, trigger, delay, old, new,
                                                                                    when):
    """Planned in one zone and window, changed to another at any moment before it is due: the
    re-planned time is inside the new window in the new zone, not before the trigger plus the
    delay nor the change, and the executor, there, sends (it does not hold the run again)."""
    before, after = zones
    not_before = trigger + delay.total
    planned = timing.due_at(trigger, delay, old, before)
    changed_at = trigger + (planned - trigger) * when
    assert timing.send_at(not_before, old, before, changed_at) == planned  # nothing changed: no move
    replanned = timing.send_at(not_before, new, after, changed_at)
    assert replanned >= not_before and replanned >= changed_at and admitted(new, after, replanned)
    assert timing.send_at(not_before, new, after, replanned) == replanned


@FAST
@given(zone_pairs, instants, delays, st.none() | windows, st.none() | windows)
def test_the_executor_holds_a_run_whose_re_plan_was_lost_to_the_next_opening(zones, trigger, delay, old, new):
    before, after = zones
    not_before = trigger + delay.total
    planned = timing.due_at(trigger, delay, old, before)
    held = timing.send_at(not_before, new, after, planned)  # at its old time, as things are now
    assert held >= planned and admitted(new, after, held)
    assert timing.send_at(not_before, new, after, held) == held  # where it is held, it goes


ENGINE = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@ENGINE
@given(zone_pairs, st.integers(0, 36 * 60), st.none() | windows, st.none() | windows, st.floats(0, 1),
       st.booleans(), st.booleans())
# Due at once, then its zone and window moved before it ran: its executor holds it to the new window's
# opening that day (once the simulator ran the queued run only when its clock had reached the end).
@example(zones=(ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")), delay_minutes=0,
         old=SendWindow(ClockTime(976), ClockTime(334)), new=SendWindow(ClockTime(514), ClockTime(1022)),
         when=0.0, move_zone=True, replans=True)
def test_runs_through_the_engine_send_once_inside_the_current_window_and_zone(
        env, zones, delay_minutes, old, new, when, move_zone, replans):
    """Through the services over moto: a contact joins, then its zone and its rule's window
    change (re-planned, or with the re-plan lost); exactly one send, inside the window as it is
    in the zone as it is, never before the trigger plus the delay."""
    before, after = zones
    trigger = env.clock.now()
    delay = Delay(0, 0, delay_minutes)
    rule, run = joined(env, {"delay": delay, "window": old}, timezone=before.key)
    env.clock.set(trigger + (run.due_at - trigger) * when)
    if move_zone:
        env.services.contacts.update(env.account, run.subject_id, {"timezone": after.key})
        expander(env) if replans else lost(env)
    rewindowed(env, rule, new, replans=replans, delay=delay)
    env.live_until(run.due_at + timedelta(days=3))
    zone = after if move_zone else before
    at = sent_at(env, run)  # succeeded, once
    assert at >= trigger + delay.total - timedelta(seconds=1) and admitted(new, zone, at)
    assert [d["status"] for d in env.sent() if d["run_id"] == run.id] == ["sent"]


def test_a_local_table_kept_from_before_the_waiting_index_gets_it_on_start(aws):
    """The local runtime's state survives a restart: a table saved before an index was declared
    gets it when the runtime creates what the template declares."""
    from automations_local.resources import create_resources

    db = boto3.client("dynamodb")

    def indexes():
        described = db.describe_table(TableName=config.table_name())["Table"]
        return {index["IndexName"] for index in described["GlobalSecondaryIndexes"]}

    db.update_table(TableName=config.table_name(),
                    GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "WaitingIndex"}}])
    assert "WaitingIndex" not in indexes()
    create_resources(aws)
    assert "WaitingIndex" in indexes() and {"GSI1", "GSI2", "DueIndex"} <= indexes()
