"""The run engine's figures (`automations bench --only runs`), on the local runtime.

- Run creation: join events of a list whose automation has a delay, turned into runs and
  one-time schedules by the engine, in runs per second, against a bare DynamoDB put plus
  Scheduler create per run on the same backend.
- Firing lateness: runs due across one simulated hour, fired by the local scheduler as the clock
  moves 10 s at a time; the largest and median delay between due time and execution.
"""
from __future__ import annotations

import statistics
import time
import uuid
from datetime import timedelta

PER_CALL = 100  # contacts per members call
STEP_S = 10  # how far the lateness benchmark moves the clock between scheduler ticks


def delayed_email_on_join(runtime, delay_hours: int, account_id: str | None = None):
    """In the account (the runtime's dev account unless given): a list, an email template, and an
    automation sending the email ``delay_hours`` after a contact joins the list. Returns
    (services, account id, list, automation)."""
    from automations.bootstrap import services
    from automations.domain.contact_rules import ActionKind, ContactRule, Delay, RuleAction
    from automations.domain.contacts import GroupKind
    from automations.domain.model import Trigger

    wired, account_id = services(), account_id or runtime.dev_account_id
    group = wired.contact_lists.create(account_id, f"Bench {uuid.uuid4().hex[:6]}")
    template = wired.templates.create(account_id, {"type": "email", "title": "Bench", "subject": "Hi", "text": "Hi"})
    automation = wired.contact_automations.create(account_id, ContactRule(
        Trigger.LIST_JOINED, GroupKind.LIST, group.id, RuleAction(ActionKind.SEND_EMAIL, template_id=template.id),
        delay=Delay(0, delay_hours, 0)))
    return wired, account_id, group, automation


def imported_contacts(runtime, account_id: str, prefix: str, count: int) -> list[str]:
    """The uuids of ``count`` new contacts (``<prefix><n>@example.com``), bulk-loaded as a data
    migration would: a benchmark's setup, not what it measures."""
    from automations import clock
    from automations.adapters import aws
    from automations.adapters.dynamo_contacts import DynamoContactStore
    from automations.domain.contacts import Contact

    now = clock.now()
    contacts = [Contact(account_id=account_id, uuid=str(uuid.uuid4()), email=f"{prefix}{n}@example.com", phone=None,
                        first_name=None, last_name=None, timezone=None, custom_fields={}, created_at=now,
                        updated_at=now) for n in range(count)]
    DynamoContactStore(aws.client("dynamodb"), runtime.template.physical_name("Table")).import_contacts(contacts)
    return [c.uuid for c in contacts]


def run_creation(contacts: int) -> dict:
    """Join events turned into runs and schedules by the engine (the path every join takes after
    its membership commits), against a bare conditional put and CreateSchedule per run. The
    runtime's background threads are stopped while timing, so both share the backend alone."""
    from automations.adapters import aws
    from automations.domain.model import AutomationChanges
    from automations.domain.run import run_id
    from automations_local.runtime import LocalRuntime

    with LocalRuntime(port=0) as runtime:
        runtime.scheduler.stop()
        runtime.queues.stop()
        wired, account_id, group, automation = delayed_email_on_join(runtime, delay_hours=24)
        wired.automations.update(account_id, automation.id, AutomationChanges(active=False))  # joins make no runs yet
        uuids = imported_contacts(runtime, account_id, "bench", contacts)
        for start in range(0, contacts, PER_CALL):
            wired.contact_lists.add_members(account_id, group.id, uuids[start:start + PER_CALL])
        joins, cursor = [], None
        while True:
            page, cursor = wired.contact_events.since(account_id, cursor=cursor)
            joins += page
            if cursor is None:
                break
        wired.automations.update(account_id, automation.id, AutomationChanges(active=True))
        started = time.perf_counter()
        made = wired.run_launcher.on_contact_events(joins).runs
        ours = time.perf_counter() - started
        assert len(made) == contacts, f"{len(made)} runs for {contacts} joins"

        db, scheduler = aws.client("dynamodb"), aws.client("scheduler")
        table, group_name = runtime.template.physical_name("Table"), runtime.template.physical_name("RunScheduleGroup")
        target = {"Arn": runtime.template.arn("RunExecutorFunction"), "RoleArn": runtime.template.arn("SchedulerRole")}
        started = time.perf_counter()
        for n in range(contacts):  # the floor: one conditional put and one schedule per run
            name = run_id(account_id, 0, "contact", str(n), "bench")
            db.put_item(TableName=table, Item={"PK": {"S": f"BENCH#{account_id}"}, "SK": {"S": name},
                                               "data": {"S": "x" * 600}},
                        ConditionExpression="attribute_not_exists(PK)")
            scheduler.create_schedule(Name=name, GroupName=group_name, ScheduleExpression="at(2099-01-01T00:00:00)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target={**target, "Input": "{}"})
        bare = time.perf_counter() - started
    return {"runs": contacts, "runs_per_s": contacts / ours, "baseline_per_s": contacts / bare, "ratio": ours / bare}


def firing_lateness(runs: int) -> dict:
    from automations import clock
    from automations.domain.model import SubjectKind
    from automations_local.runtime import LocalRuntime

    with LocalRuntime(port=0) as runtime:
        wired, account_id, group, automation = delayed_email_on_join(runtime, delay_hours=2)
        uuids = imported_contacts(runtime, account_id, "late", runs)
        first = clock.now()
        for n, contact_uuid in enumerate(uuids):  # joins spread over an hour: runs due across the next one
            runtime.clock.set(first + timedelta(seconds=3600 * n / runs))
            wired.contact_lists.add_members(account_id, group.id, [contact_uuid])
        base = first + timedelta(hours=2)
        wall_started = time.perf_counter()
        for step in range(0, 3600 // STEP_S + 2):
            runtime.clock.set(base + timedelta(seconds=step * STEP_S))
            runtime.scheduler.tick()
            runtime.queues.drain(600)
        wall = time.perf_counter() - wall_started
        lateness = []
        cursor = None
        while True:
            page, cursor = wired.runs.list(account_id, automation_id=automation.id, limit=100, cursor=cursor)
            for run in page:
                started = next(h["at"] for h in run.history if h["event"] == "started")
                lateness.append((clock.parse_iso(started) - run.due_at).total_seconds())
            if cursor is None:
                break
        assert len(lateness) == runs and all(run.subject_kind is SubjectKind.CONTACT for run in page)
    return {"runs": runs, "max_s": max(lateness), "p50_s": statistics.median(lateness), "wall_s": wall}


def print_figures(contacts: int, due_runs: int) -> None:
    created = run_creation(contacts)
    print(f"\nRun creation on the local runtime: {created['runs']} list joins -> runs + one-time schedules")
    print(f"runs/s {created['runs_per_s']:,.1f}   baseline (bare put + CreateSchedule) "
          f"{created['baseline_per_s']:,.1f}/s   time ratio {created['ratio']:.2f}   target <= 1.5")
    late = firing_lateness(due_runs)
    print(f"\nFiring lateness: {late['runs']} runs due across one simulated hour, the local scheduler ticking every "
          f"{STEP_S} simulated seconds ({late['wall_s']:.1f} s of wall time)")
    print(f"max {late['max_s']:.1f} s   median {late['p50_s']:.1f} s   (bound locally: the {STEP_S} s step plus the "
          "executor's work; in AWS: EventBridge Scheduler's 60 s precision plus a cold start)")
