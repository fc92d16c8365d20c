"""Re-planning: a waiting run follows what its send time depends on (issue 27).

A run goes at its ``not_before`` (its trigger plus the delay in force when it was made) held to
its automation's send window in its contact's zone, else the account's (``send_time``). The
delay stays as it was (a changed delay applies to runs made after it); the window and the zones
are read as they are:

- when the executor sends: a run whose time, so read, has not come goes back to waiting until
  it does (executing.py), whatever a re-plan missed;
- when they change: a contact's change re-plans its scheduled runs (the runs-by-subject index,
  filtered), a rule's changed window those waiting on the rule (the sparse WaitingIndex, a page
  at a time through the expand queue), the account's changed zone those of every rule with a
  window. So a run also moves earlier, to the new window's opening, when that is still after
  its trigger plus its delay; ``due_at`` shows where it is.

Moving a run is a conditional write on its version: a re-plan, the executor's claim, a cancel
and another re-plan race to one winner, and a re-plan that lost reads everything again. The
moved run then gets a schedule of its own (named after the move) and its old one is deleted; a
crash in between leaves it to its old schedule (handed on if early) or to the hourly re-drive:
late, never early, never lost."""
from __future__ import annotations

import functools
import logging
from dataclasses import replace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo
from typing import TYPE_CHECKING

from automations import clock
from automations.domain import timing
from automations.domain.account import Account
from automations.domain.contacts import Contact
from automations.domain.contact_rules import ContactRule
from automations.domain.messages import ContactReplan, Continued, RuleReplan, in_pages
from automations.domain.model import Automation, SubjectKind, Trigger
from automations.domain.run import Run, RunStatus, moved
from automations.errors import is_transient
from automations.store_refusals import StaleWrite

if TYPE_CHECKING:
    from automations.ports import RunQueue, RunScheduler, RunStore

_log = logging.getLogger(__name__)
PAGE = 100
_ATTEMPTS = 3  # a run that keeps changing under a re-plan is left to the executor's hold


def contact_zone(contact: Contact, account: Callable[[], Account]) -> ZoneInfo:
    """Where a contact's wall-clock times are read: its own zone, else (none, or an unknown one)
    the account's (``account`` is read only then)."""
    return timing.known_zone(contact.timezone) or timing.zone_of(account().timezone)


def send_time(run: Run, automation: Automation, zone: Callable[[], ZoneInfo], now: datetime) -> datetime:
    """When ``run`` goes, as its automation's window and ``zone()`` are ``now`` (never before
    now). A series step keeps the time it was planned for."""
    if run.step is not None:
        return max(run.due_at, now)
    _, window = timing.delay_and_window(automation)
    return timing.send_at(run.not_before or run.due_at, window, zone() if window else timing.zone_of(None), now)


def window_changed(before: Automation | None, after: Automation | None) -> bool:
    """Whether a contact rule's send window changed (its waiting runs are then re-planned)."""
    return (before is not None and after is not None and after.subject is SubjectKind.CONTACT
            and _window(before) != _window(after))


def _window(automation: Automation):
    return timing.delay_and_window(automation)[1]


class Replanner:
    def __init__(self, *, store: RunStore, accounts, automations, contacts, queue: RunQueue,
                 scheduler: RunScheduler, hand_on: Callable[[list[Run]], None]) -> None:
        self._store = store
        self._accounts = accounts
        self._automations = automations
        self._contacts = contacts
        self._queue = queue
        self._scheduler = scheduler
        self._hand_on = hand_on  # a moved run to what executes it at its new time

    # -- what changed ----------------------------------------------------------------------------
    def contact_changed(self, account_id: str, contact_uuid: str) -> int:
        """Re-plan the contact's scheduled runs (its zone may have changed), in line: a contact
        has few. Returns how many moved."""
        count, cursor = 0, None
        while True:
            runs, cursor = self._store.list(account_id, subject=(SubjectKind.CONTACT, contact_uuid),
                                            status=RunStatus.SCHEDULED, limit=PAGE, cursor=cursor)
            count += self._replan(account_id, [r for r in runs if r.step is None], "the contact changed")
            if cursor is None:
                return count

    def replan_rule(self, automation: Automation) -> None:
        """A contact rule whose send window changed: its waiting runs are re-planned off the
        request path (the expand queue), each shard of them by a chain of its own."""
        self._queue.expand_later(self._tasks(automation))

    def follow_zone(self, account_id: str) -> int:
        """After a change of the account's zone (the account's hourly check): each active
        recurring rule's next firing is planned in it (the one planned in the old zone deleted),
        and the waiting runs of every contact rule with a window are re-planned (those of contacts
        with a zone of their own stay where they are). Returns 1 if the zone had changed."""
        after = self._accounts.get_account(account_id)
        if after.previous_timezone is None:
            return 0
        self._zone_changed(replace(after, timezone=after.previous_timezone), after)
        self._accounts.zone_followed(after)  # else (changed again) the next check follows that
        return 1

    def _zone_changed(self, before: Account, after: Account) -> None:
        now, tasks = clock.now(), []
        for automation in self._automations.list(after.id):
            with _alone(f"automation {automation.id} could not follow its account's zone"):
                if automation.active and automation.trigger == Trigger.RECURRING:
                    rule = ContactRule.from_automation(automation)
                    old, new = (timing.next_firing(rule, timing.zone_of(a.timezone), now) for a in (before, after))
                    self._scheduler.put_firing(automation, new)
                    if old.day != new.day:  # the same day is the same schedule, updated
                        self._scheduler.delete_firing(automation, old)
                if automation.subject is SubjectKind.CONTACT and _window(automation) is not None:
                    tasks += self._tasks(automation)
        if tasks:
            self._queue.expand_later(tasks)

    def replan(self, task: RuleReplan | ContactReplan, *, has_time: Callable[[], bool]) -> Continued[int]:
        """A rule's waiting runs re-planned a page at a time while there is time, the rest handed
        on through the expand queue; or a contact's. Returns how many pages were re-planned."""
        return in_pages(task, self.replan_page, has_time=has_time,
                        hand_on=lambda rest: self._queue.expand_later([rest]))

    def replan_page(self, task: RuleReplan | ContactReplan) -> tuple[int, RuleReplan | None]:
        """One page of a rule's waiting runs re-planned, or a contact's; the task of the next page
        (None when done)."""
        if isinstance(task, ContactReplan):
            self.contact_changed(task.account_id, task.contact_uuid)
            return 1, None
        ids, after = self._store.waiting(task.account_id, task.automation_id, task.shard, PAGE, task.after)
        self._replan(task.account_id, self._store.get_many(task.account_id, ids), "its window or zone changed")
        return 1, replace(task, after=after) if after else None

    def _tasks(self, automation: Automation) -> list[RuleReplan]:
        return [RuleReplan(automation.account_id, automation.id, shard) for shard in range(self._store.due_shards)]

    # -- moving ----------------------------------------------------------------------------------
    def _replan(self, account_id: str, runs: list[Run], why: str) -> int:
        """Each of ``runs`` (read before what they depend on, so that the last re-plan of a change
        sees it) moved to its time as things are now."""
        if not runs:
            return 0
        account = functools.cache(lambda: self._accounts.get_account(account_id))  # read only if needed
        contacts = self._contacts.get_many(account_id, list({r.subject_id for r in runs}))
        rules = {i: self._automations.find(account_id, i) for i in {r.automation_id for r in runs}}
        moves: list[tuple[Run, Run]] = []
        for run in runs:
            with _alone(f"run {run.id} could not be re-planned (its executor holds it to its window)"):
                for _ in range(_ATTEMPTS):
                    try:
                        move = self._move(run, rules.get(run.automation_id), contacts.get(run.subject_id), account,
                                          why)
                        if move is not None:
                            moves.append((run, move))
                        break
                    except StaleWrite:  # it changed under us: read it, then what it depends on, again
                        run = self._store.get(account_id, run.id)
                        if run is None:
                            break
                        rules[run.automation_id] = self._automations.find(account_id, run.automation_id)
                        contacts[run.subject_id] = self._contacts.find(account_id, run.subject_id)
                        account = functools.cache(lambda: self._accounts.get_account(account_id))
        self._hand_on([new for _, new in moves])
        for old, _ in moves:
            with _alone(f"old schedule of moved run {old.id} not deleted (it fires, and hands the run on)"):
                self._scheduler.unschedule(old)
        return len(moves)

    def _move(self, run: Run, automation: Automation | None, contact: Contact | None,
              account: Callable[[], Account], why: str) -> Run | None:
        """``run`` at its time as things are now, if that changed (stored conditionally); None
        when it stays (or is not waiting, or its rule or contact is gone: the executor skips it)."""
        if run.status is not RunStatus.SCHEDULED or automation is None or contact is None:
            return None
        now = clock.now()
        due = send_time(run, automation, lambda: contact_zone(contact, account), now)
        if due == run.due_at or (due <= now and run.due_at <= now):
            return None  # unchanged, or due either way: its executor is on its way
        return self._store.replace(run, moved(run, due, now, "moved", why))


@contextmanager
def _alone(what: str) -> Iterator[None]:
    """What fails inside (not transiently) is logged and fails alone: the work around it goes on."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the bulkhead
        if is_transient(error):
            raise
        _log.exception(what)

