"""The run engine: contact automations executed exactly once, on time, in the right time zone.

Creating (flow 2): a trigger (a list or community join, an event, a manual run, a recurring or
date-field firing, a series step) makes one run per (automation, contact, occurrence): the run id
is derived from them and stored with a conditional put, so duplicate triggers make one run. A
run due now goes to the run queue; a later one gets a one-time schedule named after it.

Executing (flow 3): the executor claims the run with a conditional write on its version (so a
second delivery of the schedule, a re-drive and a cancel race to one winner), re-checks that it
is still wanted, performs the actions (deliveries are stored before they are sent under ids
derived from the run, so a retried run never sends twice), and records the outcome. A run
interrupted mid-way keeps a lease; when it ends the hourly re-drive (or the retry message)
takes the run over and finishes what is left."""
from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from automations import clock, telemetry
from automations.domain import timing
from automations.domain.contact_events import ContactEvent
from automations.domain.contact_rules import CANCELS, SCHEDULED_TRIGGERS, ClockTime, ContactRule
from automations.domain.contacts import Contact, GroupKind, Template, TemplateType
from automations.domain.delivery import UNCONFIRMED_REASON, Delivery, DeliveryStatus
from automations.domain.messages import DONE, Continued, Expansion, HourlyCheck, RedrivePass, in_pages
from automations.domain.model import Account, Action, Automation, SubjectKind, Trigger
from automations.domain.run import Run, RunStatus, moved, run_id
from automations.domain.run import history_entry as _entry
from automations.errors import Conflict, NotFound, OutOfTime, is_throttle, is_transient, reason_of
from automations.ports import RunQueue, RunScheduler, RunStore, StaleWrite, UnreadableRecord
from automations.service.contact_actions import Composer, succeeded_event
from automations.service.replanning import Replanner, contact_zone, send_time

_log = logging.getLogger(__name__)

# How long an executor holds a run it claimed: longer than the executor's timeout, so a live
# executor never loses its run, short enough that a crashed one's run is soon taken over.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
# A throttled run's first wait; it doubles (with jitter) while the run stays throttled, up to the
# run queue's longest delay. A throttle is a delay, not an attempt: it never fails a run.
THROTTLED_WAIT_S = 4
MAX_QUEUE_DELAY_S = 900  # SQS's longest message delay: shorter waits go through the run queue
# The re-drive leaves runs alone for this long past their time: their schedule may still come.
REDRIVE_GRACE = timedelta(minutes=5)
REDRIVE_PAGE = 100  # runs a shard gives the re-drive each round
EXPANSION_PAGE = 100  # members of a shard a recurring expansion reads at a time (then looks at the time left)
# A run its invocation has too little time left to finish goes on in another one this soon.
CONTINUE_WAIT_S = 1
JOIN_TRIGGERS = {GroupKind.LIST: Trigger.LIST_JOINED, GroupKind.COMMUNITY: Trigger.COMMUNITY_JOINED}
CATCH_UP = timedelta(hours=2)  # how far back the hourly check looks for contact events and firings without runs
CATCH_UP_PAGE = 100  # contact events the catch-up reads at a time (then looks at the time left)
# A firing delivered later than this is not expanded (Scheduler gives an invocation up after a day too).
MAX_FIRING_AGE = timedelta(days=1)


def backoff(attempt: int) -> int:
    """Seconds before retry ``attempt`` (1, 2, ...): 1, 2, 4, 8 minutes."""
    return 60 * 2 ** (attempt - 1)


def sent_template(automation: Automation) -> int | None:
    """The template a run of ``automation`` sends (what cancel actions name), if it sends one."""
    for action in automation.actions:
        if action.field in ("send_email", "send_text", "start_series") and isinstance(action.value, dict):
            return action.value.get("template_id")
    return None


@dataclass(frozen=True)
class Started:
    """What a trigger started: its runs, and where it stopped when it met its ``limit`` of runs
    (``rest``: JSON, to hand to the same call again with ``after``; None when all is done)."""

    runs: list[Run]
    rest: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """A run to create: for whom, for which occurrence, from when."""

    contact_uuid: str
    occurrence: str
    triggered_at: datetime
    data: Any = None
    due_at: datetime | None = None  # set: this exact time (series steps); else trigger + delay + window
    template_id: int | None = None
    step: int | None = None


class RunEngine:
    def __init__(self, *, store: RunStore, accounts, automations, contacts, groups: dict[GroupKind, Any], templates,
                 deliveries, delivery_store, scheduler: RunScheduler, queue: RunQueue, event_log,
                 conditions: Callable[[Any, Contact, Any], bool]) -> None:
        self._store = store
        self._accounts = accounts
        self._automations = automations
        self._contacts = contacts
        self._groups = groups
        self._templates = templates
        self._deliveries = deliveries
        self._outbox = delivery_store
        self._scheduler = scheduler
        self._queue = queue
        self._event_log = event_log  # ContactEvents: the durable contact event log (``_log`` is the logger)
        self._matches = conditions  # (conditions, contact, data) -> bool
        self._composer = Composer(templates.find)
        self.replanning = Replanner(store=store, accounts=accounts, automations=automations, contacts=contacts,
                                    queue=queue, scheduler=scheduler, hand_on=self.hand_on)

    # -- triggers ------------------------------------------------------------------------------
    def on_contact_events(self, events: list[ContactEvent], *, missing_only: bool = False,
                          after: dict[str, Any] | None = None, limit: int | None = None) -> Started:
        """Contacts joined lists or communities: a run of every active automation on that group
        (``missing_only``: only the runs that do not exist yet, for the catch-up). Accounts go
        in id order, each one's automations in id order, each automation's joins in the events'
        order; with a ``limit``, at most that many runs are planned and ``rest`` says where the
        next call (with ``after``) goes on: the run ids are derived from the joins, so a call
        repeated, or overlapping, makes no run twice."""
        runs: list[Run] = []
        planned = 0
        events = [e for e in events if e.is_join]
        for account_id in sorted({e.account_id for e in events}):
            if after and account_id < after["account_id"]:
                continue
            groups = {(JOIN_TRIGGERS[e.group_kind], str(e.group_id)) for e in events if e.account_id == account_id}
            automations = sorted({a.id: a for trigger, group in groups
                                  for a in self._automations.listening(account_id, trigger, group)}.values(),
                                 key=lambda a: a.id)
            account = self._accounts.get_account(account_id) if automations else None
            for automation in automations:
                done = 0
                if after and account_id == after["account_id"]:
                    if automation.id < after["automation_id"]:
                        continue
                    done = after["runs"] if automation.id == after["automation_id"] else 0
                with self._bulkhead(automation, "its joins could not be read"):
                    source = (automation.trigger_config or {}).get("source") or {}
                    plans = [Plan(e.contact_uuid, e.id, e.occurred_at) for e in events
                             if e.account_id == account_id and JOIN_TRIGGERS[e.group_kind] == automation.trigger
                             and source.get("id") == e.group_id][done:]
                    if limit is not None and planned + len(plans) > limit:
                        taken = limit - planned
                        runs += self._launch(automation, plans[:taken], account=account)
                        return Started(runs, {"account_id": account_id, "automation_id": automation.id,
                                              "runs": done + taken})
                    planned += len(plans)
                    runs += self._launch(automation, self._missing(automation, plans) if missing_only else plans,
                                         account=account)
        return Started(runs)

    def _missing(self, automation: Automation, plans: list[Plan]) -> list[Plan]:
        ids = {run_id(automation.account_id, automation.id, SubjectKind.CONTACT, p.contact_uuid, p.occurrence): p
               for p in plans}
        existing = self._store.existing(automation.account_id, list(ids))
        return [plan for rid, plan in ids.items() if rid not in existing]

    def start_manual(self, account_id: str, automation: Automation, contact_uuid: str, *, data: Any,
                     occurrence: str) -> Run:
        """One run of ``automation`` for the contact (Piggy's and the native API's "run now")."""
        self._contacts.get(account_id, contact_uuid)  # NotFound for an unknown contact
        return self._launch(automation, [Plan(contact_uuid, f"manual:{occurrence}", clock.now(), data)])[0]

    def on_event(self, account_id: str, event_name: str, contact_uuid: str, *, data: Any, event_id: str,
                 occurred_at: datetime | None = None, missing_only: bool = False,
                 after: dict[str, Any] | None = None, limit: int | None = None) -> Started:
        """An event on a contact: a run of every active automation of that event whose
        conditions the contact (and the event's data) meet (``missing_only``: only the runs
        that do not exist yet, for the catch-up). Automations go in id order; with a ``limit``,
        at most that many are tried and ``rest`` says where the next call (with ``after``) goes on."""
        try:
            contact = self._contacts.get(account_id, contact_uuid)
        except UnreadableRecord as unreadable:  # no attempt can read it: each listening automation fails, visibly
            contact, reason = None, f"the contact could not be read: {unreadable}"
        runs, tried, previous = [], 0, None
        for automation in self._automations.listening(account_id, Trigger.EVENT, event_name):
            if after and automation.id <= after["automation_id"]:
                continue
            if limit is not None and tried == limit:
                return Started(runs, {"automation_id": previous})
            tried, previous = tried + 1, automation.id
            plans = [Plan(contact_uuid, f"event:{event_id}", occurred_at or clock.now(), data)]
            if contact is None:
                runs += self._failed(automation, plans, reason)
                continue
            try:
                wanted = self._matches(automation.conditions, contact, data)
            except Exception as error:  # noqa: BLE001 - this automation fails alone; the others still run
                if is_transient(error):
                    raise
                runs += self._failed(automation, plans, f"the conditions could not be evaluated: {reason_of(error)}")
                continue
            if wanted:
                runs += self._launch(automation, self._missing(automation, plans) if missing_only else plans,
                                     contacts={contact.uuid: contact})
        return Started(runs)

    @contextmanager
    def _bulkhead(self, automation: Automation, what: str) -> Iterator[None]:
        """What fails inside (not transiently) is logged with the automation's ids and fails
        alone: the work around it goes on."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - the bulkhead
            if is_transient(error):
                raise
            _log.exception("%s: account_id=%s automation_id=%s", what, automation.account_id, automation.id)

    def _failed(self, automation: Automation, plans: list[Plan], reason: str) -> list[Run]:
        """Runs that could not be made, recorded as failed with ``reason`` (each once), so that
        GET /v1/runs shows them; their data is left out (it may be what failed)."""
        now, failed = clock.now(), []
        for plan in plans:
            run = _run_of(automation, plan, now, RunStatus.FAILED, error=reason, template_id=plan.template_id,
                          history=(_entry(now, "failed", reason),))
            _log.error("run failed: account_id=%s automation_id=%s run_id=%s contact_uuid=%s: %s",
                       run.account_id, run.automation_id, run.id, run.subject_id, reason)
            with self._bulkhead(automation, f"the failed run {run.id} could not be recorded"):
                failed.append(run if self._store.put_new(run) else self._store.get(run.account_id, run.id))
        return [run for run in failed if run is not None]

    # -- creating ------------------------------------------------------------------------------
    def _launch(self, automation: Automation, plans: list[Plan], contacts: dict[str, Contact] | None = None,
                account: Account | None = None) -> list[Run]:
        """Create the planned runs (each once) and hand each to the queue or the scheduler."""
        if not plans:
            return []
        account = account or self._accounts.get_account(automation.account_id)
        delay, window = timing.delay_and_window(automation)
        if window is not None and contacts is None:  # only a window reads the contact's own zone
            contacts = self._contacts.get_many(account.id, [p.contact_uuid for p in plans])
        now = clock.now()
        runs, waiting = [], []
        for plan in plans:
            contact = (contacts or {}).get(plan.contact_uuid)
            try:
                zone = timing.zone_of(contact.timezone if contact else None, account.timezone)
                due = plan.due_at or timing.due_at(plan.triggered_at, delay, window, zone)
                run = _run_of(automation, plan, now, RunStatus.SCHEDULED, due_at=due, data=plan.data,
                              not_before=plan.due_at or clock.ensure_utc(plan.triggered_at) + delay.total,
                              template_id=plan.template_id or sent_template(automation),
                              history=(_entry(now, "scheduled", f"due {clock.iso_z(due)}"),))
                created = self._store.put_new(run)
            except Exception as error:  # noqa: BLE001 - this contact's run fails alone; the others are made
                if is_transient(error):
                    raise
                runs += self._failed(automation, [plan], f"the run could not be created: {reason_of(error)}")
                continue
            if created:
                _counted("RunsCreated", run)
            else:  # a duplicate trigger: the run exists
                run = self._store.get(account.id, run.id)
                if run is None or run.status is not RunStatus.SCHEDULED:
                    runs.append(run)
                    continue
                # Still scheduled: hand it on again (idempotent), which heals a crash right after
                # the first put.
            runs.append(run)
            waiting.append(run)
        self.hand_on(waiting)
        return runs

    def hand_on(self, runs: list[Run]) -> None:
        """Each run to what executes it at its due time, never before: the run queue, with a
        delay when the wait fits in one (to the second), else a one-time schedule (or its time
        bucket's, when many are due in one minute)."""
        now, soon, delays, later = clock.now(), [], [], []
        for run in runs:
            wait = math.ceil((run.due_at - now).total_seconds())
            if wait <= MAX_QUEUE_DELAY_S:
                soon.append((run.account_id, run.id))
                delays.append(max(wait, 0))
            else:
                later.append(run)
        if later:
            self._scheduler.schedule_all(later)
        if soon:
            self._queue.execute_soon(soon, delays)

    # -- executing -----------------------------------------------------------------------------
    def execute(self, account_id: str, run_id_: str, *, redriven: bool = False,
                has_time: Callable[[float], bool] | None = None) -> Run | None:
        """Execute a run whose time has come; a no-op for a run done, cancelled, not yet due or
        held by another executor. Returns the run as this call left it. Every log line meanwhile
        carries the run's ids. ``redriven``: the hourly re-drive found it waiting past its time;
        ``has_time(seconds)``: whether the invocation can still start a send that long (the
        rest of a run that cannot goes on in another invocation)."""
        with telemetry.log_keys(account_id=account_id, run_id=run_id_):
            return self._execute(account_id, run_id_, redriven, has_time)

    def _execute(self, account_id: str, run_id_: str, redriven: bool,
                 has_time: Callable[[float], bool] | None) -> Run | None:
        try:
            run = self._store.get(account_id, run_id_)
        except UnreadableRecord as unreadable:  # no attempt can read it: set aside, never retried
            _log.error("run set aside: account_id=%s run_id=%s: %s", account_id, run_id_, unreadable)
            self._store.set_aside(account_id, run_id_, str(unreadable))
            return None
        now = clock.now()
        if run is None or run.finished:
            return run
        if run.status is RunStatus.SCHEDULED and run.due_at and run.due_at > now:
            self.hand_on([run])  # delivered early (whatever delivered it): it waits for the rest
            return run
        if run.status is RunStatus.RUNNING and run.lease_until and run.lease_until > now:
            return run
        claimed = replace(run, status=RunStatus.RUNNING, attempts=run.attempts + 1, lease_until=now + LEASE,
                          updated_at=now, history=run.history + (_entry(now, "started", f"attempt {run.attempts + 1}"),))
        waited_as = run.status
        try:
            run = self._store.replace(run, claimed)
        except StaleWrite:
            return None  # another executor or a cancel won
        if redriven:
            _redriven(run, waited_as)
        if run.attempts == 1 and run.due_at is not None:  # retries are late on purpose
            telemetry.measure("FiringLateness", max(0.0, (now - run.due_at).total_seconds()), "Seconds",
                              account_id=run.account_id, run_id=run.id, trigger=run.trigger)
        with telemetry.log_keys(automation_id=run.automation_id):
            try:
                return self._perform(run, has_time)
            except OutOfTime as short:  # the rest of its sends go on in another invocation
                _log.info("run %s continued: %s", run.id, short)
                return self._continue(run, str(short))
            except Exception as error:  # noqa: BLE001 - whatever happens, the run ends recorded, never lost
                if is_throttle(error):  # SES, DynamoDB, Scheduler, SQS or EventBridge wants us to slow down
                    _log.info("run %s throttled: %s", run.id, reason_of(error))
                    return self._delay(run, reason_of(error), getattr(error, "retry_after", None) or 0)
                if is_transient(error):  # an outage: the run is retried, then failed
                    _log.warning("run %s will be retried: %s", run.id, reason_of(error))
                    return self._retry_or_fail(run, reason_of(error))
                # what the run names cannot be evaluated, rendered or sent: it fails alone, now
                _log.exception("run failed: account_id=%s automation_id=%s run_id=%s contact_uuid=%s",
                               run.account_id, run.automation_id, run.id, run.subject_id)
                return self._give_up(run, reason_of(error))

    def _perform(self, run: Run, has_time: Callable[[float], bool] | None = None) -> Run:
        automation = self._automations.find(run.account_id, run.automation_id)
        if automation is None or not automation.active:
            return self._finish(run, RunStatus.SKIPPED, "the automation was deleted or deactivated")
        contact = self._contacts.find(run.account_id, run.subject_id)
        if contact is None:
            return self._finish(run, RunStatus.SKIPPED, "the contact no longer exists")
        if run.attempts == 1:  # a retry finishes what began inside the window
            held = self._held(run, automation, contact)
            if held is not None:
                return held
        if run.step is None and automation.trigger in JOIN_TRIGGERS.values():
            rule = ContactRule.from_automation(automation)
            if not self._groups[rule.source_kind].is_member(run.account_id, rule.source_id, contact.uuid):
                return self._finish(run, RunStatus.SKIPPED, f"the contact left {rule.source_kind} {rule.source_id}")
        if (automation.conditions.all or automation.conditions.any) \
                and not self._matches(automation.conditions, contact, run.data):
            return self._finish(run, RunStatus.SKIPPED, "the conditions no longer match")
        if run.step is not None:
            series = self._templates.find(run.account_id, run.template_id)
            if series is None or series.type != TemplateType.SERIES or run.step >= len(series.steps):
                return self._finish(run, RunStatus.SKIPPED, "the series template changed")
            actions: tuple[Action, ...] = (Action("send_email", {"template_id": series.steps[run.step].template_id}),)
        else:
            actions = automation.actions
        now = clock.now()
        for action in actions:
            self._change_state(run, automation, contact, action)
        stored = [self._outbox.put_new(d) for d in self._composer.compose(automation, contact, run.id, run.data,
                                                                           actions, now)]
        # Still "sending" from an earlier attempt of this run (attempts never overlap: the lease):
        # that sender stopped mid-send. Resending could send twice, so it is recorded as unconfirmed.
        stored = [self._unconfirmed(d) if d.status is DeliveryStatus.SENDING else d for d in stored]
        attempted = {d.id: d for d in self._deliveries.send([d for d in stored if d.status is DeliveryStatus.PENDING],
                                                            has_time)}
        stored = [attempted.get(d.id, d) for d in stored]
        run = replace(run, deliveries=tuple(d.id for d in stored))
        failed = [d for d in stored if d.status is DeliveryStatus.FAILED]
        if failed:
            return self._finish(run, RunStatus.FAILED, "; ".join(f"{d.channel} to {d.recipient or '?'}: {d.error}"
                                                                 for d in failed))
        if any(d.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for d in stored):
            return self._retry_or_fail(run, "; ".join(d.error or "not sent yet" for d in stored
                                                      if d.status is DeliveryStatus.PENDING) or "a send is in progress")
        if run.step is not None:
            self._next_step(run, automation, contact, series)
        return self._finish(run, RunStatus.SUCCEEDED, None, detail=_sent_summary(stored),
                            announcement=succeeded_event(automation, contact, run.id, run.data, clock.now()))

    def _held(self, run: Run, automation: Automation, contact: Contact) -> Run | None:
        """A claimed run whose time, as its rule's window and its contact's zone are now, has not
        come: waiting again until then (the attempt undone), under a schedule of its own."""
        now, account = clock.now(), functools.partial(self._accounts.get_account, run.account_id)
        due = send_time(run, automation, lambda: contact_zone(contact, account), now)
        if due <= now:
            return None
        waiting = moved(run, due, now, "held", "outside its window now", status=RunStatus.SCHEDULED,
                        attempts=run.attempts - 1, lease_until=None)
        try:
            waiting = self._store.replace(run, waiting)
        except StaleWrite:  # our lease ran out and another executor took the run over
            return self._store.get(run.account_id, run.id)
        self.hand_on([waiting])
        return waiting

    def _unconfirmed(self, delivery: Delivery) -> Delivery:
        telemetry.count("DeliveriesUnconfirmed", dimension=("channel", delivery.channel.value),
                        account_id=delivery.account_id, delivery_id=delivery.id)
        return self._outbox.finish(delivery, DeliveryStatus.UNCONFIRMED, error=UNCONFIRMED_REASON)

    def _change_state(self, run: Run, automation: Automation, contact: Contact, action: Action) -> None:
        """The actions that change state rather than send. Each is idempotent, so a retried run
        may do it again."""
        value = action.value if isinstance(action.value, dict) else {}
        if action.field == "set_custom_field":
            if contact.custom_fields.get(str(value["custom_field_id"])) != value["value"]:
                self._contacts.update(run.account_id, contact.uuid,
                                      {"custom_fields": {str(value["custom_field_id"]): value["value"]}})
        elif action.field in {c.value for c in CANCELS}:
            self.cancel_sends(run.account_id, contact.uuid, value.get("template_ids") or [], by=run.id)
        elif action.field == "start_series":
            series = self._templates.find(run.account_id, value.get("template_id"))
            if series is not None and series.type == TemplateType.SERIES and series.steps:
                self._plan_step(run, automation, contact, series, 0, clock.now())

    def _plan_step(self, run: Run, automation: Automation, contact: Contact, series: Template, index: int,
                   previous: datetime) -> None:
        """Step ``index`` of ``series``, due ``delay_days`` after ``previous``: a run of its own."""
        account = self._accounts.get_account(run.account_id)
        step = series.steps[index]
        at = ClockTime.from_12h(step.hour, step.min or 0, step.ampm or "am") if step.hour is not None else None
        zone = timing.zone_of(contact.timezone, account.timezone)
        due = timing.series_step_due(previous, step.delay_days, at, step.weekdays_only, zone)
        root = run.occurrence.split("|")[0] if run.step is not None else run.id
        self._launch(automation, [Plan(contact.uuid, f"{root}|series:{series.id}:{index}", previous, run.data,
                                       due_at=due, template_id=series.id, step=index)], contacts={contact.uuid: contact})

    def _next_step(self, run: Run, automation: Automation, contact: Contact, series: Template) -> None:
        if run.step + 1 < len(series.steps):
            # From the step's due time, not its execution: lateness does not pile up along a series.
            self._plan_step(run, automation, contact, series, run.step + 1, run.due_at)

    def _finish(self, run: Run, status: RunStatus, error: str | None, detail: str | None = None,
                announcement: Delivery | None = None) -> Run:
        """Record the outcome, with the ``announcement`` of it in the same write (so no crash
        between the two can lose it), then send the announcement."""
        now = clock.now()
        done = replace(run, status=status, error=error, lease_until=None, updated_at=now,
                       history=run.history + (_entry(now, status.value, error or detail),))
        try:
            done = self._store.replace(run, done, (announcement,) if announcement else ())
        except StaleWrite:  # our lease ran out and another executor took the run over
            return self._store.get(run.account_id, run.id)
        _counted(f"Runs{status.value.capitalize()}", done)
        if announcement is not None:
            try:
                self._deliveries.dispatch([announcement])
            except Exception:  # noqa: BLE001 - it is stored: the outbox relay sends it later
                _log.exception("could not announce run: account_id=%s automation_id=%s run_id=%s",
                               run.account_id, run.automation_id, run.id)
        return done

    def _give_up(self, run: Run, reason: str) -> Run:
        """The run failed: what it left unsent is never sent."""
        for delivery_id in run.deliveries:
            d = self._outbox.get(run.account_id, delivery_id)
            if d is not None and d.status is DeliveryStatus.PENDING:
                self._outbox.finish(d, DeliveryStatus.FAILED, error=f"gave up: {reason}")
        return self._finish(run, RunStatus.FAILED, reason)

    def _retry_or_fail(self, run: Run, reason: str) -> Run:
        if run.attempts >= MAX_ATTEMPTS:
            return self._give_up(run, f"gave up after {run.attempts} attempts: {reason}")
        now = clock.now()
        wait = backoff(run.attempts)
        later = replace(run, lease_until=now + timedelta(seconds=wait), updated_at=now,
                        history=run.history + (_entry(now, "retrying", f"in {wait} s: {reason}"),))
        try:
            later = self._store.replace(run, later)
        except StaleWrite:
            return self._store.get(run.account_id, run.id)
        self._scheduler.schedule_retry(later)  # the scheduler, not an SQS delay: clock-driven, up to a day
        return later

    def _delay(self, run: Run, reason: str, at_least: float) -> Run:
        """A throttle stopped the run: it goes on later through the run queue, its attempt given
        back. Its history keeps one "throttled" entry counting the times in a row, which set the
        wait: THROTTLED_WAIT_S, doubling, jittered (so throttled runs spread out), at most the
        queue's longest delay."""
        times = _times_in_a_row(run, "throttled")
        ceiling = min(MAX_QUEUE_DELAY_S - 1, THROTTLED_WAIT_S * 2 ** min(times - 1, 10))
        wait = math.ceil(max(at_least, random.uniform(ceiling / 2, ceiling)))
        return self._go_on(run, "throttled", f"again in {wait} s: {reason}", wait)

    def _continue(self, run: Run, reason: str) -> Run:
        """Its invocation had too little time left for the run's next send: the run goes on in
        another invocation at once (what it sent stays sent), its attempt given back."""
        return self._go_on(run, "continued", reason, CONTINUE_WAIT_S)

    def _go_on(self, run: Run, event: str, detail: str, wait: int) -> Run:
        """The run, not failed, goes on through the run queue in ``wait`` seconds, this attempt
        not counted; one history entry counts the times in a row it went on for ``event``."""
        now = clock.now()
        times = _times_in_a_row(run, event)
        history = run.history[:-1]  # this attempt's "started": it was not one
        if times > 1:
            history = history[:-1]
        later = replace(run, attempts=run.attempts - 1, lease_until=now + timedelta(seconds=wait), updated_at=now,
                        history=history + ({**_entry(now, event, detail), "times": times},))
        try:
            later = self._store.replace(run, later)
        except StaleWrite:
            return self._store.get(run.account_id, run.id)
        self._queue.execute_soon([(run.account_id, run.id)], [wait + 1])  # a second past the lease: never early
        return later

    # -- cancelling ----------------------------------------------------------------------------
    def cancel(self, account_id: str, run_id_: str) -> Run:
        """Cancel a scheduled run (``POST /v1/runs/{id}/cancel``)."""
        run = self._store.get(account_id, run_id_)
        if run is None:
            raise NotFound(f"run {run_id_} not found")
        cancelled = self._cancel(run, "cancelled through the API")
        if cancelled is None or cancelled.status is not RunStatus.CANCELLED:
            current = cancelled or self._store.get(account_id, run_id_)
            raise Conflict(f"run {run_id_} is {current.status}: only a scheduled run can be cancelled")
        return cancelled

    def cancel_sends(self, account_id: str, contact_uuid: str, template_ids: Iterable[int], *, by: str) -> int:
        """Cancel the contact's scheduled runs that send one of ``template_ids`` (series steps
        included); returns how many were cancelled."""
        wanted, cancelled, cursor = set(template_ids), 0, None
        while True:
            runs, cursor = self._store.list(account_id, subject=(SubjectKind.CONTACT, contact_uuid),
                                            status=RunStatus.SCHEDULED, limit=100, cursor=cursor)
            for run in runs:
                if run.id != by and run.template_id in wanted:
                    done = self._cancel(run, f"cancelled by run {by}")
                    cancelled += done is not None and done.status is RunStatus.CANCELLED
            if cursor is None:
                return cancelled

    def _cancel(self, run: Run, reason: str) -> Run | None:
        """scheduled -> cancelled, racing the executor to exactly one winner; the schedule goes."""
        for _ in range(3):
            if run is None or run.status is not RunStatus.SCHEDULED:
                return run
            now = clock.now()
            try:
                run = self._store.replace(run, replace(run, status=RunStatus.CANCELLED, updated_at=now, error=None,
                                                       history=run.history + (_entry(now, "cancelled", reason),)))
            except StaleWrite:
                run = self._store.get(run.account_id, run.id)
                continue
            self._scheduler.unschedule(run)
            _counted("RunsCancelled", run)
            return run
        return run

    # -- the hourly re-drive -------------------------------------------------------------------
    def redrive(self, task: RedrivePass | None = None, *,
                has_time: Callable[[], bool] = lambda: True) -> Continued[int]:
        """Queue the runs whose time passed (plus a grace) and are still waiting: a lost
        schedule, an executor that died holding its lease. Every DueIndex shard gives a page in
        turn, oldest first, so none waits behind another (nor one account's backlog behind the
        rest) and all are read to the end; when time runs short the rest (``task``: the pass's
        instant and each shard's position) goes on through the run queue. Returns how many were
        queued."""
        task = task or RedrivePass(clock.now() - REDRIVE_GRACE, (None,) * self._store.due_shards)
        return in_pages(task, self._redrive_round, has_time=has_time, hand_on=self._queue.dispatch_later)

    def _redrive_round(self, task: RedrivePass) -> tuple[int, RedrivePass | None]:
        """A page of each DueIndex shard not read to the end."""
        positions, queued = list(task.after), 0
        for shard, after in enumerate(positions):
            if after != DONE:
                refs, after = self._store.due(shard, task.redrive_before, REDRIVE_PAGE, after)
                if refs:
                    self._queue.execute_soon(refs, redriven=True)
                queued += len(refs)
                positions[shard] = after or DONE
        return queued, None if all(after == DONE for after in positions) else replace(task, after=tuple(positions))

    # -- recurring and date-field automations ---------------------------------------------------
    def automation_changed(self, before: Automation | None, after: Automation | None) -> bool:
        """Keep the automation's next firing in step with it: planned while it is active, moved
        when its rule changes, gone when it is deactivated or deleted. True when the next
        firing's schedule was missing."""
        now = clock.now()
        wanted = self._next_firing(after, now) if after is not None and after.active else None
        replaced = self._next_firing(before, now) if before is not None else None
        missing = self._scheduler.put_firing(after, wanted) if wanted else False
        if replaced and replaced != wanted:
            self._scheduler.delete_firing(before, replaced)
        return missing

    def _next_firing(self, automation: Automation, now: datetime) -> timing.Firing | None:
        if automation.trigger not in SCHEDULED_TRIGGERS:
            return None
        return timing.next_firing(ContactRule.from_automation(automation), self._rule_zone(automation.account_id), now)

    def _rule_zone(self, account_id: str, account: Account | None = None):
        """Where a recurring rule's days and times are read: the account's zone."""
        return timing.zone_of((account or self._accounts.get_account(account_id)).timezone)

    def expand(self, account_id: str, automation_id: int, *, day: date, shard: int | None = None,
               cursor: str | None = None, page_size: int = EXPANSION_PAGE) -> str | None:
        """The automation's firing of ``day``. Without a ``shard`` (the firing itself): it plans the
        next firing before anything else, so the chain of firings outlives a failure here, then
        hands each member shard of the source group to the expand queue, so the shards are expanded
        side by side rather than one after another. With one: a page of that shard's members (from
        ``cursor``) made into runs; returns the cursor of the shard's next page (None when done)."""
        automation = self._automations.find(account_id, automation_id)
        if automation is None or not automation.active or automation.trigger not in SCHEDULED_TRIGGERS:
            return None
        rule = ContactRule.from_automation(automation)
        account = self._accounts.get_account(account_id)
        zone = self._rule_zone(account_id, account)
        firing = timing.firing_on(rule, zone, day)
        if firing is None:
            return None  # a firing of the rule as it was (it changed since): the rule now has none that day
        now = clock.now()
        if shard is None:
            # From this firing, or (after a long outage) from a day ago, as Scheduler drops older invocations.
            self._scheduler.put_firing(automation, timing.next_firing(rule, zone, max(firing.at, now - MAX_FIRING_AGE)))
        if firing.at < now - MAX_FIRING_AGE:
            return None  # too late to be of use: Scheduler would have given it up too
        group = self._groups[rule.source_kind]
        if shard is None:
            self._queue.expand_later([Expansion(account_id, automation_id, day, n) for n in range(group.member_shards)])
            return None
        try:
            members, cursor = group.shard_members(account_id, rule.source_id, shard, cursor=cursor, limit=page_size)
        except NotFound:
            return None  # the list is gone
        contacts = self._contacts.get_many(account_id, [m.contact_uuid for m in members])
        if rule.recurrence:
            plans = [Plan(uuid, f"recurring:{day.isoformat()}", firing.at) for uuid in contacts]
        else:
            start, end = timing.planned_span(firing)
            plans = []
            for c in contacts.values():
                with self._bulkhead(automation, f"the date of contact {c.uuid} could not be read"):
                    plans += _anniversaries(c, rule, account, start, end)
        self._launch(automation, plans, contacts=contacts, account=account)
        return cursor

    def continue_expansion(self, task: Expansion, *, has_time: Callable[[], bool] = lambda: True) -> Continued[int]:
        """``task`` expanded (``expand``) a page at a time while there is time, the rest (its
        cursor) handed to another invocation. Returns how many pages were expanded."""
        return in_pages(task, self._expansion_page, has_time=has_time,
                        hand_on=lambda rest: self._queue.expand_later([rest]))

    def _expansion_page(self, task: Expansion) -> tuple[int, Expansion | None]:
        cursor = self.expand(task.account_id, task.automation_id, day=task.day, shard=task.shard, cursor=task.cursor,
                             page_size=EXPANSION_PAGE)
        return 1, replace(task, cursor=cursor) if cursor else None

    def hourly_check_later(self, account_ids: Iterable[str]) -> None:
        """Ask the expander to run each account's hourly check (the sweep coordinator does)."""
        self._queue.expand_later([HourlyCheck(a) for a in account_ids])

    def hourly_check(self, account_id: str, *, since: str | None = None, cursor: str | None = None,
                     has_time: Callable[[], bool] = lambda: True) -> dict[str, int]:
        """What a failure between two writes can have left undone, or a change of the account's
        zone left to it: what waits on the account's clock moved to its zone, schedules put back,
        and runs of recent contact events created. The catch-up reads the log a page at a time;
        when time runs short, the rest (from ``since``, at ``cursor``) goes on through the expand
        queue, so no invocation outlasts its timeout and a long log is read once, not restarted."""
        first = cursor is None
        zone_followed = self.replanning.follow_zone(account_id) if first else 0
        schedules = self.check_schedules(account_id) if first else 0
        since = since or clock.iso_z(clock.now() - CATCH_UP)
        made, cursor = self.catch_up(account_id, since=datetime.fromisoformat(since), cursor=cursor,
                                     has_time=has_time)
        if cursor is not None:
            self._queue.expand_later([HourlyCheck(account_id, since, cursor)])
        return {"zone_followed": zone_followed, "schedules": schedules, "caught_up_runs": len(made),
                "continued": int(cursor is not None)}

    def catch_up(self, account_id: str, *, since: datetime, cursor: str | None = None,
                 has_time: Callable[[], bool] = lambda: True) -> tuple[list[Run], str | None]:
        """Runs of the contact events (joins, contacts created or changed) from ``since`` on that
        were never made (the process stopped between an event's commit and its hand-off to the
        queue): the contact event log, written with each of them, has them all. A page at least
        is read; the next only while ``has_time()``. Returns the runs made and where to go on
        (None at the end)."""
        made = []
        while True:
            logged, cursor = self._event_log.since(account_id, cursor=cursor, since=since, limit=CATCH_UP_PAGE)
            made += self.on_contact_events(logged, missing_only=True).runs
            for contact_uuid in {e.contact_uuid for e in logged if e.zone_changed}:
                self.replanning.contact_changed(account_id, contact_uuid)  # idempotent: moves a run once
            for change in (e for e in logged if not e.is_join):
                try:
                    made += self.on_event(account_id, change.event.value, change.contact_uuid, data=None,
                                          event_id=change.id, occurred_at=change.occurred_at, missing_only=True).runs
                except NotFound:
                    continue  # the contact is gone since: nothing to run
            if cursor is None or not has_time():
                return made, cursor

    def check_schedules(self, account_id: str) -> int:
        """Put back the next firing of every recurring and date-field automation of the account
        (a schedule write lost after its automation's write, a firing that failed before
        planning the next), and delete an inactive one's. Where the next firing was missing,
        the firing before it may have been lost too: it is fired again if it is recent and
        not older than the automation (its runs exist already if it was not lost, so nothing
        runs twice). Returns how many automations were checked."""
        automations = self._automations.list(account_id, kinds=frozenset(SCHEDULED_TRIGGERS))
        account = self._accounts.get_account(account_id) if automations else None
        now, lost = clock.now(), []
        for automation in automations:
            with self._bulkhead(automation, "its schedule could not be put back"):
                if self.automation_changed(automation, automation):
                    last = timing.last_firing(ContactRule.from_automation(automation),
                                              self._rule_zone(account_id, account), now)
                    if last.at >= max(now - CATCH_UP, automation.updated_at):
                        lost.append(Expansion(account_id, automation.id, last.day))
        if lost:
            self._queue.expand_later(lost)
        return len(automations)

    # -- previews ------------------------------------------------------------------------------
    def preview(self, account_id: str, automation: Automation, contact: Contact, data: Any) -> list[dict[str, Any]]:
        """What a run of ``automation`` for ``contact`` would send now, sending nothing."""
        composed = self._composer.compose(automation, contact, "run_preview", data, automation.actions, clock.now())
        return [{"channel": d.channel.value, "recipient": d.recipient, "subject": d.subject, "body": d.body,
                 **({"skipped": d.error} if d.status is DeliveryStatus.SKIPPED else {})} for d in composed]


def _anniversaries(contact: Contact, rule: ContactRule, account: Account, start: datetime,
                   end: datetime) -> list[Plan]:
    """Runs for the date held in the contact's field coming round within [start, end), at the
    rule's time in the contact's zone."""
    held_text = contact.custom_fields.get(str(rule.date_field.custom_field_id))
    try:
        held = date.fromisoformat(held_text)
    except (TypeError, ValueError):
        return []
    zone = timing.zone_of(contact.timezone, account.timezone)
    return [Plan(contact.uuid, f"date:{day.isoformat()}", instant)
            for day, instant in timing.anniversaries_between(held, rule.date_field.at, zone, start, end)]


def _run_of(automation: Automation, plan: Plan, now: datetime, status: RunStatus, **values: Any) -> Run:
    """The run of ``automation`` that ``plan`` names (its id derived from them), made ``now``."""
    return Run(account_id=automation.account_id,
               id=run_id(automation.account_id, automation.id, SubjectKind.CONTACT, plan.contact_uuid, plan.occurrence),
               automation_id=automation.id, subject_kind=SubjectKind.CONTACT, subject_id=plan.contact_uuid,
               occurrence=plan.occurrence, status=status, created_at=now, updated_at=now, step=plan.step,
               trigger=automation.trigger.value, **values)


def _times_in_a_row(run: Run, event: str) -> int:
    """How many times in a row, this one included, the run went on for ``event`` (its history
    ends with this attempt's "started", after the last such entry if the last time was one)."""
    before = run.history[-2] if len(run.history) > 1 else {}
    return before.get("times", 1) + 1 if before.get("event") == event else 1


def _redriven(run: Run, waited_as: RunStatus) -> None:
    """The check of "every scheduled run has a schedule": a run the hourly re-drive finds still
    scheduled past its time (and the grace) was executed by no schedule and no queue message;
    a running one's executor died. Counted by which, and a scheduled one logged as an error."""
    telemetry.count("RunsRedriven", dimension=("status", waited_as.value), account_id=run.account_id,
                    automation_id=run.automation_id, run_id=run.id)
    if waited_as is RunStatus.SCHEDULED:
        _log.error("scheduled run had no schedule that executed it: account_id=%s run_id=%s due_at=%s",
                   run.account_id, run.id, clock.iso_z(run.due_at) if run.due_at else None)


def _counted(metric: str, run: Run) -> None:
    telemetry.count(metric, dimension=("trigger", run.trigger or "unknown"), account_id=run.account_id,
                    automation_id=run.automation_id, run_id=run.id)


def _sent_summary(deliveries: list[Delivery]) -> str | None:
    parts = [f"{d.channel} {d.status}" + (f" ({d.error})" if d.error else "") for d in deliveries]
    return ", ".join(parts) or None
