"""Recurring and date-field automations (flow 5): each has one schedule, its next firing's,
kept in step with the automation. A firing plans the next one before anything else, so the chain
outlives a failure in it, then is expanded into runs, a member shard of its list at a time, side
by side through the expand queue."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from automations import clock
from automations.domain import timing
from automations.domain.account import Account
from automations.domain.contact_rules import SCHEDULED_TRIGGERS, ContactRule
from automations.domain.contacts import Contact, GroupKind
from automations.domain.messages import Continued, Expansion, in_pages
from automations.domain.model import Automation
from automations.errors import NotFound

from automations.service.launching import Plan, RunLauncher, bulkhead

if TYPE_CHECKING:
    from automations.ports import AccountReads, AutomationReads, Contacts, MemberGroups, RunQueue, RunScheduler

CATCH_UP = timedelta(hours=2)  # how far back the hourly check looks for contact events and firings without runs
# A firing delivered later than this is not expanded (Scheduler gives an invocation up after a day too).
MAX_FIRING_AGE = timedelta(days=1)
EXPANSION_PAGE = 100  # members of a shard a recurring expansion reads at a time (then looks at the time left)


class RuleFirings:
    def __init__(self, *, accounts: AccountReads, automations: AutomationReads, contacts: Contacts,
                 groups: dict[GroupKind, MemberGroups], scheduler: RunScheduler, queue: RunQueue,
                 launcher: RunLauncher) -> None:
        self._accounts, self._automations, self._contacts, self._groups = accounts, automations, contacts, groups
        self._scheduler, self._queue, self._launcher = scheduler, queue, launcher

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
                with bulkhead(automation, f"the date of contact {c.uuid} could not be read"):
                    plans += _anniversaries(c, rule, account, start, end)
        self._launcher.launch(automation, plans, contacts=contacts, account=account)
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
            with bulkhead(automation, "its schedule could not be put back"):
                if self.automation_changed(automation, automation):
                    last = timing.last_firing(ContactRule.from_automation(automation),
                                              self._rule_zone(account_id, account), now)
                    if last.at >= max(now - CATCH_UP, automation.updated_at):
                        lost.append(Expansion(account_id, automation.id, last.day))
        if lost:
            self._queue.expand_later(lost)
        return len(automations)


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
