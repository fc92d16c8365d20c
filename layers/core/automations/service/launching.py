"""Launching runs (flow 2): a trigger (a list or community join, an event, a manual run, a
recurring or date-field firing, a series step) makes one run per (automation, contact,
occurrence). The run id is derived from them and stored with a conditional put, so duplicate
triggers make one run. A run due now goes to the run queue; a later one gets a one-time schedule
named after it (or its time bucket's)."""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations import clock, telemetry
from automations.domain import timing
from automations.domain.account import Account
from automations.domain.contact_events import ContactEvent
from automations.domain.contact_rules import ClockTime
from automations.domain.contacts import Contact, GroupKind, Template
from automations.domain.model import Automation, SubjectKind, Trigger
from automations.domain.run import Run, RunStatus, run_id
from automations.domain.run import history_entry as _entry
from automations.errors import is_transient, reason_of
from automations.store_refusals import UnreadableRecord

if TYPE_CHECKING:
    from automations.ports import (
        AccountReads, AutomationReads, ConditionCheck, Contacts, RunQueue, RunScheduler, RunStore,
    )

_log = logging.getLogger(__name__)

MAX_QUEUE_DELAY_S = 900  # SQS's longest message delay: shorter waits go through the run queue
JOIN_TRIGGERS = {GroupKind.LIST: Trigger.LIST_JOINED, GroupKind.COMMUNITY: Trigger.COMMUNITY_JOINED}


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


# Which of an automation's plans a trigger makes into runs: all of them, or (the hourly
# catch-up) only those whose runs do not exist yet.
_Selection = Callable[[Automation, list[Plan]], list[Plan]]


def _every(automation: Automation, plans: list[Plan]) -> list[Plan]:
    return plans


class RunLauncher:
    def __init__(self, *, store: RunStore, accounts: AccountReads, automations: AutomationReads, contacts: Contacts,
                 scheduler: RunScheduler, queue: RunQueue, conditions: ConditionCheck) -> None:
        self._store, self._scheduler, self._queue = store, scheduler, queue  # where runs are kept and handed on
        self._accounts, self._automations, self._contacts = accounts, automations, contacts  # what triggers read
        self._matches = conditions  # (conditions, contact, data) -> bool

    # -- triggers ------------------------------------------------------------------------------
    def on_contact_events(self, events: list[ContactEvent], *, after: dict[str, Any] | None = None,
                          limit: int | None = None) -> Started:
        """Contacts joined lists or communities: a run of every active automation on that group.
        Accounts go in id order, each one's automations in id order, each automation's joins in
        the events' order; with a ``limit``, at most that many runs are planned and ``rest`` says
        where the next call (with ``after``) goes on: the run ids are derived from the joins, so a
        call repeated, or overlapping, makes no run twice."""
        return self._joins(events, after, limit, _every)

    def missing_runs_of_joins(self, events: list[ContactEvent]) -> list[Run]:
        """The catch-up's ``on_contact_events``: only the runs that do not exist yet are made."""
        return self._joins(events, None, None, self._missing).runs

    def _joins(self, events: list[ContactEvent], after: dict[str, Any] | None, limit: int | None,
               selected: _Selection) -> Started:
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
                with bulkhead(automation, "its joins could not be read"):
                    source = (automation.trigger_config or {}).get("source") or {}
                    plans = [Plan(e.contact_uuid, e.id, e.occurred_at) for e in events
                             if e.account_id == account_id and JOIN_TRIGGERS[e.group_kind] == automation.trigger
                             and source.get("id") == e.group_id][done:]
                    if limit is not None and planned + len(plans) > limit:
                        taken = limit - planned
                        runs += self.launch(automation, plans[:taken], account=account)
                        return Started(runs, {"account_id": account_id, "automation_id": automation.id,
                                              "runs": done + taken})
                    planned += len(plans)
                    runs += self.launch(automation, selected(automation, plans), account=account)
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
        return self.launch(automation, [Plan(contact_uuid, f"manual:{occurrence}", clock.now(), data)])[0]

    def on_event(self, account_id: str, event_name: str, contact_uuid: str, *, data: Any, event_id: str,
                 occurred_at: datetime | None = None, after: dict[str, Any] | None = None,
                 limit: int | None = None) -> Started:
        """An event on a contact: a run of every active automation of that event whose
        conditions the contact (and the event's data) meet. Automations go in id order; with a
        ``limit``, at most that many are tried and ``rest`` says where the next call (with
        ``after``) goes on."""
        return self._event(account_id, event_name, contact_uuid, data, event_id, occurred_at, after, limit, _every)

    def missing_runs_of_event(self, account_id: str, event_name: str, contact_uuid: str, *, event_id: str,
                              occurred_at: datetime) -> list[Run]:
        """The catch-up's ``on_event`` (of a logged contact change, without data): only the runs
        that do not exist yet are made."""
        return self._event(account_id, event_name, contact_uuid, None, event_id, occurred_at, None, None,
                           self._missing).runs

    def _event(self, account_id: str, event_name: str, contact_uuid: str, data: Any, event_id: str,
               occurred_at: datetime | None, after: dict[str, Any] | None, limit: int | None,
               selected: _Selection) -> Started:
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
                runs += self.launch(automation, selected(automation, plans), contacts={contact.uuid: contact})
        return Started(runs)

    def start_series_step(self, run: Run, automation: Automation, contact: Contact, series: Template, index: int,
                          previous: datetime) -> None:
        """Step ``index`` of ``series``, due ``delay_days`` after ``previous``: a run of its own."""
        account = self._accounts.get_account(run.account_id)
        step = series.steps[index]
        at = ClockTime.from_12h(step.hour, step.min or 0, step.ampm or "am") if step.hour is not None else None
        zone = timing.zone_of(contact.timezone, account.timezone)
        due = timing.series_step_due(previous, step.delay_days, at, step.weekdays_only, zone)
        root = run.occurrence.split("|")[0] if run.step is not None else run.id
        self.launch(automation, [Plan(contact.uuid, f"{root}|series:{series.id}:{index}", previous, run.data,
                                      due_at=due, template_id=series.id, step=index)], contacts={contact.uuid: contact})

    def _failed(self, automation: Automation, plans: list[Plan], reason: str) -> list[Run]:
        """Runs that could not be made, recorded as failed with ``reason`` (each once), so that
        GET /v1/runs shows them; their data is left out (it may be what failed)."""
        now, failed = clock.now(), []
        for plan in plans:
            run = _run_of(automation, plan, now, RunStatus.FAILED, error=reason, template_id=plan.template_id,
                          history=(_entry(now, "failed", reason),))
            _log.error("run failed: account_id=%s automation_id=%s run_id=%s contact_uuid=%s: %s",
                       run.account_id, run.automation_id, run.id, run.subject_id, reason)
            with bulkhead(automation, f"the failed run {run.id} could not be recorded"):
                failed.append(run if self._store.put_new(run) else self._store.get(run.account_id, run.id))
        return [run for run in failed if run is not None]

    # -- creating ------------------------------------------------------------------------------
    def launch(self, automation: Automation, plans: list[Plan], contacts: dict[str, Contact] | None = None,
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
                count_run("RunsCreated", run)
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


@contextmanager
def bulkhead(automation: Automation, what: str) -> Iterator[None]:
    """What fails inside (not transiently) is logged with the automation's ids and fails
    alone: the work around it goes on."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the bulkhead
        if is_transient(error):
            raise
        _log.exception("%s: account_id=%s automation_id=%s", what, automation.account_id, automation.id)


def count_run(metric: str, run: Run) -> None:
    """A run counted under ``metric`` by its trigger."""
    telemetry.count(metric, dimension=("trigger", run.trigger or "unknown"), account_id=run.account_id,
                    automation_id=run.automation_id, run_id=run.id)


def _run_of(automation: Automation, plan: Plan, now: datetime, status: RunStatus, **values: Any) -> Run:
    """The run of ``automation`` that ``plan`` names (its id derived from them), made ``now``."""
    return Run(account_id=automation.account_id,
               id=run_id(automation.account_id, automation.id, SubjectKind.CONTACT, plan.contact_uuid, plan.occurrence),
               automation_id=automation.id, subject_kind=SubjectKind.CONTACT, subject_id=plan.contact_uuid,
               occurrence=plan.occurrence, status=status, created_at=now, updated_at=now, step=plan.step,
               trigger=automation.trigger.value, **values)
