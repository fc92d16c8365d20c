"""The shared simulators over moto, around the services the functions use, on the tests'
movable clock. RunSimulator: the run engine's world, the queues (ingestion, run, expand) and
EventBridge Scheduler's one-time schedules driven as their Lambda event sources and Scheduler
would; it names the collaborators tests make fail (``run_store``, ``outbox``, ``run_scheduler``,
``run_queue``, ``senders``), so a test replaces one of their methods, never a service's private
attribute. SweepSimulator: the hourly sweep's, each sweep's tasks processed to their end.
``failing``: a collaborator with a fault, to build a service with."""
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import boto3

from automations import clock, config
from automations.adapters.aws import client as boto3_client
from automations.adapters.dynamo_tickets import DynamoTicketStore
from automations.domain.audit import API, Audit
from automations.domain.contact_rules import ActionKind, ContactRule, RuleAction
from automations.domain.contacts import GroupKind
from automations.domain.model import Action, AutomationDraft, Condition, Conditions, SubjectKind, Trigger
from automations.domain.run import RunStatus
from automations.domain.ticket import Ticket
from support import start_sweep

NY = ZoneInfo("America/New_York")
# Saturday 2026-10-31 08:00 in New York; DST ends there on Sunday 2026-11-01 at 02:00.
T0 = datetime(2026, 10, 31, 8, 0, tzinfo=NY)


class RunSimulator:
    def __init__(self, services, moving, template):
        self.services, self.clock, self.template = services, moving, template
        self.launcher, self.executor, self.firings = services.run_launcher, services.run_executor, services.rule_firings
        self.hourly, self.replanning = services.hourly_check, services.replanning
        # What tests make fail: the stores, scheduler, queue and senders the services share.
        self.run_store, self.outbox = services._run_store, services._delivery_store
        self.run_scheduler, self.run_queue = services.time_buckets, services._run_queue
        self.deliveries = services.deliveries
        self.senders = services.deliveries._senders  # by channel
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
        from automations_local.lambdas import invoke

        while messages := self.sqs.receive_message(QueueUrl=config.events_queue_url(), MaxNumberOfMessages=10,
                                                   AttributeNames=["All"]).get("Messages", []):
            arn = self.template.arn("EventsQueue")
            answer = invoke(self.template.functions["EventsIngestFunction"],
                            {"Records": [sqs_record(m, arn, "us-east-1") for m in messages]})
            handed_back = {failure["itemIdentifier"] for failure in (answer or {}).get("batchItemFailures", [])}
            for m in messages:  # as the event source does: a record handed back is received again
                if m["MessageId"] not in handed_back:
                    self.sqs.delete_message(QueueUrl=config.events_queue_url(), ReceiptHandle=m["ReceiptHandle"])

    def runs(self, contact=None, status=None):
        found, cursor = [], None
        while True:
            runs, cursor = self.services.runs.list(self.account, status=status, limit=100, cursor=cursor,
                                                   subject=(SubjectKind.CONTACT, contact.uuid) if contact else None)
            found += runs
            if cursor is None:
                return found

    def unscheduled(self):
        """The invariant "every scheduled run has a schedule": the scheduled runs due past the run
        queue's reach (15 minutes) that have neither a schedule of their own nor their time bucket's."""
        from automations.adapters.dynamo_runs import DynamoRunStore
        from automations.adapters.scheduler import bucket_schedule_name
        from automations.service.launching import MAX_QUEUE_DELAY_S
        from automations.service.time_buckets import minute_of

        pages = self.scheduler.get_paginator("list_schedules").paginate(GroupName=config.run_schedule_group())
        names = {s["Name"] for page in pages for s in page["Schedules"]}
        horizon = clock.now() + timedelta(seconds=MAX_QUEUE_DELAY_S)
        return [run for run in self.runs(status=RunStatus.SCHEDULED) if run.due_at > horizon and run.id not in names
                and bucket_schedule_name(minute_of(run.due_at), DynamoRunStore.due_shard(run)) not in names]

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
                done.append(self.executor.execute(body["account_id"], body["run_id"]))
                self.sqs.delete_message(QueueUrl=config.run_queue_url(), ReceiptHandle=m["ReceiptHandle"])

    def fire_due_schedules(self):
        """Invoke the target of each one-time schedule whose instant has come, as Scheduler does:
        the executor (the runs it executed are returned) or the rule expander (a firing)."""
        fired = []
        for s in sorted(self.schedules(), key=instant):
            if instant(s) <= clock.now():
                payload = json.loads(s["Target"]["Input"])
                self.scheduler.delete_schedule(GroupName=s["GroupName"], Name=s["Name"])
                if "run_id" in payload:
                    fired.append(self.executor.execute(payload["account_id"], payload["run_id"]))
                else:
                    self.expand(payload)
        return fired

    def expand(self, task):
        """A firing (its member shards queued, then each expanded), or one shard, page by page."""
        cursor = task.get("cursor")
        while (cursor := self.firings.expand(task["account_id"], task["automation_id"], shard=task.get("shard"),
                                            day=date.fromisoformat(task["day"]), cursor=cursor)):
            pass
        if task.get("shard") is None:
            self.expansions()

    def live_until(self, end):
        """Move the clock from schedule to schedule, and to each run the run queue holds back,
        up to ``end``, firing each at its instant and executing what the run queue holds then:
        Scheduler and SQS on the clock. What is due already goes first, at the time it is now (a
        run queued without delay is executed before the clock moves on, as its event source would)."""
        from automations_local.delays import next_release

        while True:
            self.fire_due_schedules()
            self.drain()
            due = [instant(s) for s in self.schedules() if instant(s) <= end]
            released = next_release(self.template.physical_name("RunQueue"))
            due += [released] if released is not None and released <= end else []
            if not due:
                self.clock.set(end)
                self.fire_due_schedules()
                self.drain()
                return
            self.clock.set(max(min(due), self.clock.now()))

    def expansions(self):
        """Take the rule expander's queued tasks and expand them."""
        while messages := self.sqs.receive_message(QueueUrl=config.expand_queue_url(),
                                                   MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                self.expand(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=config.expand_queue_url(), ReceiptHandle=m["ReceiptHandle"])

    def sent(self, channel="email"):
        from automations_local.outbox import deliveries

        return [d for d in deliveries(channel=channel, account_id=self.account) if d["status"] == "sent"]


def instant(schedule):
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    return datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=timezone.utc)


class SweepSimulator:
    """The sweep's world: tickets on the clock, and each sweep's tasks taken off its queue and
    processed to their end, as the sweep workers do (``worker``: one built with a fault)."""

    def __init__(self, bootstrap, services, account, clock_, users):
        self.bootstrap, self.services, self.account, self.clock, self.users = bootstrap, services, account, clock_, users
        self.tickets = DynamoTicketStore(boto3_client("dynamodb"), bootstrap.config.table_name())

    def ticket(self, **values):
        ticket = Ticket.create(self.account.id, self.tickets.allocate_id(self.account.id), self.clock.now(), **values)
        self.tickets.insert(ticket, Audit.of(None, ticket, author_id=None, via=API))
        return ticket

    def change(self, ticket, **changes):
        current = self.tickets.get(self.account.id, ticket.id)
        new = current.with_changes(changes, self.clock.now())
        self.tickets.replace(current, new, Audit.of(current, new, author_id=None, via=API))
        return self.tickets.get(self.account.id, ticket.id)

    def get(self, ticket):
        return self.tickets.get(self.account.id, ticket.id)

    def rule(self, title, all_, actions, any_=()):
        return self.services.automations.create(self.account.id, AutomationDraft(
            title=title, conditions=Conditions(all=tuple(Condition(*c) for c in all_),
                                               any=tuple(Condition(*c) for c in any_)),
            actions=tuple(Action(*a) for a in actions)))

    def sweep(self, worker=None, has_time=lambda: True):
        sweep_id, tasks = start_sweep(self.bootstrap)
        worker = worker or self.bootstrap.services().sweep_worker
        for task in tasks:
            while task is not None:
                task = worker.process(task, has_time).rest
        return sweep_id, tasks

    def runs(self, ticket=None):
        from automations.domain.model import SubjectKind

        subject = (SubjectKind.TICKET, str(ticket.id)) if ticket else None
        return self.services.runs.list(self.account.id, subject=subject, limit=100)[0]


def failing(target, **methods):
    """``target`` with ``methods`` in place of its own, to build a service with (the fault goes
    in through the service's constructor; ``target`` itself is left as it is)."""
    class Failing:
        def __getattr__(self, name):
            return methods[name] if name in methods else getattr(target, name)

    return Failing()
