"""Executing runs (flow 3), and cancelling them.

The executor claims the run with a conditional write on its version (so a second delivery of the
schedule, a re-drive and a cancel race to one winner), re-checks that it is still wanted,
performs the actions (deliveries are stored before they are sent under ids derived from the run,
so a retried run never sends twice), and records the outcome. A run interrupted mid-way keeps a
lease; when it ends the hourly re-drive (or the retry message) takes the run over and finishes
what is left."""
from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from automations import clock, telemetry
from automations.domain.contact_rules import CANCELS, ContactRule
from automations.domain.contacts import Contact, GroupKind, Template, TemplateType
from automations.domain.delivery import Delivery, DeliveryStatus
from automations.domain.messages import DONE, Continued, RedrivePass, in_pages
from automations.domain.model import Action, Automation, SubjectKind
from automations.domain.run import STARTED, Run, RunStatus, moved
from automations.domain.run import history_entry as _entry
from automations.errors import Conflict, NotFound, OutOfTime, is_throttle, is_transient, reason_of
from automations.service.contact_actions import Composer, succeeded_event
from automations.service.launching import JOIN_TRIGGERS, MAX_QUEUE_DELAY_S, RunLauncher, count_run
from automations.service.replanning import contact_zone, send_time
from automations.store_refusals import StaleWrite, UnreadableRecord

if TYPE_CHECKING:
    from automations.ports import (
        AccountReads, AutomationReads, ConditionCheck, Contacts, MemberGroups, Outbox, RunQueue, RunScheduler,
        RunStore, Sending, TemplateReads,
    )

_log = logging.getLogger(__name__)

# How long an executor holds a run it claimed: longer than the executor's timeout, so a live
# executor never loses its run, short enough that a crashed one's run is soon taken over.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 5
# A throttled run's first wait; it doubles (with jitter) while the run stays throttled, up to the
# run queue's longest delay. A throttle is a delay, not an attempt: it never fails a run.
THROTTLED_WAIT_S = 4
# The re-drive leaves runs alone for this long past their time: their schedule may still come.
REDRIVE_GRACE = timedelta(minutes=5)
REDRIVE_PAGE = 100  # runs a shard gives the re-drive each round
# A run its invocation has too little time left to finish goes on in another one this soon.
CONTINUE_WAIT_S = 1
_GIVEN_BACK = ("throttled", "continued")  # the history events of an attempt given back (_go_on)


def backoff(attempt: int) -> int:
    """Seconds before retry ``attempt`` (1, 2, ...): 1, 2, 4, 8 minutes."""
    return 60 * 2 ** (attempt - 1)


class _Done(Exception):
    """A step of a run's attempt ended it (skipped, held, failed): ``run`` as the step left it."""

    def __init__(self, run: Run | None) -> None:
        super().__init__()
        self.run = run


class _NotHandedOn(Exception):
    """A run written as waiting whose hand-on failed (``error``): not this attempt's to delay (the
    run is written already), the message fails instead, and its redelivery (SQS's, or Lambda's for
    a schedule) finds the run not yet due and hands it on."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class RunExecutor:
    def __init__(self, *, store: RunStore, accounts: AccountReads, automations: AutomationReads, contacts: Contacts,
                 groups: dict[GroupKind, MemberGroups], templates: TemplateReads, deliveries: Sending,
                 outbox: Outbox, scheduler: RunScheduler, queue: RunQueue, conditions: ConditionCheck,
                 launcher: RunLauncher) -> None:
        # Where runs are kept and handed on; what they read; how they send.
        self._store, self._scheduler, self._queue, self._launcher = store, scheduler, queue, launcher
        self._accounts, self._automations, self._contacts, self._groups = accounts, automations, contacts, groups
        self._templates, self._deliveries, self._outbox = templates, deliveries, outbox
        self._matches = conditions  # (conditions, contact, data) -> bool
        self._composer = Composer(templates.find)

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
            self._launcher.hand_on([run])  # delivered early (whatever delivered it): it waits for the rest
            return run
        if run.status is RunStatus.RUNNING and run.lease_until and run.lease_until > now:
            return run
        claimed = replace(run, status=RunStatus.RUNNING, attempts=run.attempts + 1, lease_until=now + LEASE,
                          updated_at=now, history=run.history + (_entry(now, STARTED, f"attempt {run.attempts + 1}"),))
        waited_as = run.status
        try:
            run = self._store.replace(run, claimed)
        except StaleWrite:
            return None  # another executor or a cancel won
        if redriven:
            _redriven(run, waited_as)
        if not _had_an_attempt(run) and run.due_at is not None:  # retries are late on purpose
            telemetry.measure("FiringLateness", max(0.0, (now - run.due_at).total_seconds()), "Seconds",
                              account_id=run.account_id, run_id=run.id, trigger=run.trigger)
        with telemetry.log_keys(automation_id=run.automation_id):
            try:
                return self._perform(run, has_time)
            except _NotHandedOn as failed:
                raise failed.error from failed
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
                return self._finish(run, RunStatus.FAILED, reason_of(error))

    def _perform(self, run: Run, has_time: Callable[[float], bool] | None = None) -> Run:
        """The claimed run's attempt: still wanted, its state changes made, its deliveries
        stored and sent, its outcome recorded (a step that ends it early says how)."""
        try:
            automation, contact = self._still_wanted(run)
            actions, series = self._actions(run, automation)
        except _Done as done:
            return done.run
        now = clock.now()
        for action in actions:
            self._change_state(run, automation, contact, action)
        run, sent = self._send(run, automation, contact, actions, now, has_time)
        return self._outcome(run, automation, contact, series, sent)

    def _still_wanted(self, run: Run) -> tuple[Automation, Contact]:
        """The run's automation and contact, if the run is still wanted now (else _Done: skipped,
        or held to its window)."""
        automation = self._automations.find(run.account_id, run.automation_id)
        if automation is None or not automation.active:
            raise _Done(self._finish(run, RunStatus.SKIPPED, "the automation was deleted or deactivated"))
        contact = self._contacts.find(run.account_id, run.subject_id)
        if contact is None:
            raise _Done(self._finish(run, RunStatus.SKIPPED, "the contact no longer exists"))
        held = self._held(run, automation, contact)
        if held is not None:
            raise _Done(held)
        if run.step is None and automation.trigger in JOIN_TRIGGERS.values():
            rule = ContactRule.from_automation(automation)
            if not self._groups[rule.source_kind].is_member(run.account_id, rule.source_id, contact.uuid):
                raise _Done(self._finish(run, RunStatus.SKIPPED, f"the contact left {rule.source_kind} {rule.source_id}"))
        if (automation.conditions.all or automation.conditions.any) \
                and not self._matches(automation.conditions, contact, run.data):
            raise _Done(self._finish(run, RunStatus.SKIPPED, "the conditions no longer match"))
        return automation, contact

    def _actions(self, run: Run, automation: Automation) -> tuple[tuple[Action, ...], Template | None]:
        """What the run does: its automation's actions, or a series step's send (with its series)."""
        if run.step is None:
            return automation.actions, None
        series = self._templates.find(run.account_id, run.template_id)
        if series is None or series.type != TemplateType.SERIES or run.step >= len(series.steps):
            raise _Done(self._finish(run, RunStatus.SKIPPED, "the series template changed"))
        return (Action("send_email", {"template_id": series.steps[run.step].template_id}),), series

    def _send(self, run: Run, automation: Automation, contact: Contact, actions: tuple[Action, ...], now: datetime,
              has_time: Callable[[float], bool] | None) -> tuple[Run, list[Delivery]]:
        """The run's deliveries, composed ``now``, stored (once: their ids derive from the run)
        and sent; the run naming them, and each as it stands."""
        stored = self._deliveries.deliver(self._composer.compose(automation, contact, run.id, run.data, actions, now),
                                          has_time)
        return replace(run, deliveries=tuple(d.id for d in stored)), stored

    def _outcome(self, run: Run, automation: Automation, contact: Contact, series: Template | None,
                 stored: list[Delivery]) -> Run:
        """Failed (a delivery failed), retried (one not sent yet), or succeeded (the series' next
        step planned first, the success announced)."""
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
        come: waiting again until then (the attempt undone), under a schedule of its own. A run an
        earlier attempt began to deliver (a throttle, a crash or a continuation stopped it since)
        finishes what began inside its window; one that stopped before is held like a first."""
        now, account = clock.now(), functools.partial(self._accounts.get_account, run.account_id)
        due = send_time(run, automation, lambda: contact_zone(contact, account), now)
        if due <= now or (_had_an_attempt(run) and self._deliveries.began(run)):
            return None
        waiting = moved(run, due, now, "held", "outside its window now", status=RunStatus.SCHEDULED,
                        attempts=run.attempts - 1, lease_until=None)
        try:
            waiting = self._store.replace(run, waiting)
        except StaleWrite:  # our lease ran out and another executor took the run over
            return self._store.get(run.account_id, run.id)
        try:
            self._launcher.hand_on([waiting])
        except Exception as error:
            raise _NotHandedOn(error) from error
        return waiting

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
                self._launcher.start_series_step(run, automation, contact, series, 0, clock.now())

    def _next_step(self, run: Run, automation: Automation, contact: Contact, series: Template) -> None:
        if run.step + 1 < len(series.steps):
            # From the step's due time, not its execution: lateness does not pile up along a series.
            self._launcher.start_series_step(run, automation, contact, series, run.step + 1, run.due_at)

    # -- outcomes ------------------------------------------------------------------------------
    def _finish(self, run: Run, status: RunStatus, error: str | None, detail: str | None = None,
                announcement: Delivery | None = None) -> Run:
        """Record the outcome, its ``announcement`` stored just before it, then send the
        announcement. A crash between the two loses neither: the run is taken over, and the
        relay sends an announcement only once its run is recorded as it announces (a
        transaction of both cost 2 write units more a run). First, what its attempts left unsent
        or mid-send is settled: a run that did not succeed sends nothing more."""
        if _had_an_attempt(run) or status is RunStatus.FAILED:  # a first attempt skips before storing any
            self._deliveries.settle(run, status, error)
        now = clock.now()
        done = replace(run, status=status, error=error, lease_until=None, updated_at=now,
                       history=run.history + (_entry(now, status.value, error or detail),))
        if announcement is not None:
            announcement = self._outbox.put_new(announcement)
        try:
            done = self._store.replace(run, done)
        except StaleWrite:  # our lease ran out and another executor took the run over
            return self._store.get(run.account_id, run.id)
        count_run(f"Runs{status.value.capitalize()}", done)
        if announcement is not None:
            try:
                self._deliveries.dispatch([announcement])
            except Exception:  # noqa: BLE001 - it is stored: the outbox relay sends it later
                _log.exception("could not announce run: account_id=%s automation_id=%s run_id=%s",
                               run.account_id, run.automation_id, run.id)
        return done

    def _retry_or_fail(self, run: Run, reason: str) -> Run:
        if run.attempts >= MAX_ATTEMPTS:
            return self._finish(run, RunStatus.FAILED, f"gave up after {run.attempts} attempts: {reason}")
        now = clock.now()
        wait = backoff(run.attempts)
        later = replace(run, lease_until=now + timedelta(seconds=wait), updated_at=now,
                        history=run.history + (_entry(now, "retrying", f"in {wait} s: {reason}"),))
        try:
            later = self._store.replace(run, later)
        except StaleWrite:
            return self._store.get(run.account_id, run.id)
        self._bring_back(later, wait, scheduled=True)  # the scheduler, not an SQS delay: clock-driven, up to a day
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
        self._bring_back(later, wait, scheduled=False)
        return later

    def _bring_back(self, later: Run, wait: int, *, scheduled: bool) -> None:
        """``later``, written as leased for ``wait`` seconds, brought back at the lease's end: by a
        schedule of its own (``scheduled``) or through the run queue (a second past the lease:
        never early). Either throttled, by the other: a redelivery of this message would find
        the run taken and leave it to the hourly re-drive."""
        by_schedule = functools.partial(self._scheduler.schedule_retry, later)
        by_queue = functools.partial(self._queue.execute_soon, [(later.account_id, later.id)], [wait + 1])
        first, instead = (by_schedule, by_queue) if scheduled else (by_queue, by_schedule)
        try:
            first()
        except Exception as error:
            if not is_throttle(error):
                raise
            instead()

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
            count_run("RunsCancelled", run)
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


def _had_an_attempt(run: Run) -> bool:
    """Whether this attempt is a retry, so that an earlier one may have stored the run's first
    delivery: one counted, or one given back (a throttle or a continuation gives its attempt
    back, and may come after that store: the next attempt counts as the first again)."""
    return run.attempts > 1 or any(entry.get("event") in _GIVEN_BACK for entry in run.history)


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


def _sent_summary(deliveries: list[Delivery]) -> str | None:
    parts = [f"{d.channel} {d.status}" + (f" ({d.error})" if d.error else "") for d in deliveries]
    return ", ".join(parts) or None
