"""Automation use cases, shared by every surface. Uniqueness of active rules, the active cap and
id/position allocation are enforced by the store's conditional writes, not by read-then-write."""
from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from automations import clock
from automations.domain import contact_rules, event_rules, ticket_rules
from automations.domain.model import (
    Action, Automation, AutomationChanges, AutomationDraft, Condition, Conditions, Trigger,
)
from automations.errors import Conflict, FieldError, MalformedRequest, NotFound, Problems, ValidationFailed
from automations.inputs import MAX_BULK
from automations.paging import Ordering
from automations.store_refusals import ActiveLimitReached, IdenticalActiveAutomation, StaleWrite

if TYPE_CHECKING:
    from automations.ports import AutomationStore

_WRITE_ATTEMPTS = 3

# sort_by -> (sort key, descending by default)
SORTS: dict[str, tuple[Callable[[Automation], list[Any]], bool]] = {
    "position": (lambda a: [a.position, a.id], False),
    "alphabetical": (lambda a: [a.title.lower(), a.position, a.id], False),
    "created_at": (lambda a: [a.created_at.isoformat(), a.id], True),
    "updated_at": (lambda a: [a.updated_at.isoformat(), a.id], True),
}

_VALIDATORS: dict[Trigger, Callable[[Automation, Problems], None]] = {
    Trigger.SWEEP: ticket_rules.validate_sweep_rule,
    Trigger.LIST_JOINED: contact_rules.validate_contact_rule,
    Trigger.COMMUNITY_JOINED: contact_rules.validate_contact_rule,
    Trigger.RECURRING: contact_rules.validate_contact_rule,
    Trigger.DATE_FIELD: contact_rules.validate_contact_rule,
    Trigger.EVENT: event_rules.validate_event_rule,
    Trigger.MANUAL: event_rules.validate_event_rule,
}

DEFAULT_CLOSE_RULE = AutomationDraft(
    title="Close ticket 4 days after status is set to solved",
    conditions=Conditions(all=(Condition("status", "is", "solved"), Condition("SOLVED", "greater_than", "96"))),
    actions=(Action("status", "closed"),),
    default=True,
)


# sort_by -> how far back firings count (Zendesk's usage sorts, most used first by default)
USAGE_WINDOWS = {"usage_1h": timedelta(hours=1), "usage_24h": timedelta(days=1), "usage_7d": timedelta(days=7)}


class AutomationService:
    def __init__(self, store: AutomationStore, usage: Callable[[str, int, datetime], int] | None = None,
                 on_change: Callable[[Automation | None, Automation | None], None] | None = None) -> None:
        self._store = store
        self._usage = usage  # (account, automation id, since) -> firings since then
        # (before, after) once a write committed: keeps an automation's schedules in step with it
        self._on_change = on_change or (lambda before, after: None)

    def ordering(self, account_id: str, sort_by: str = "position", sort_order: str | None = None) -> Ordering:
        if sort_by in USAGE_WINDOWS:
            since = clock.now() - USAGE_WINDOWS[sort_by]
            fired = functools.cache(lambda automation_id: self._usage(account_id, automation_id, since))
            sign = 1 if sort_order == "asc" else -1  # most used first unless asked otherwise

            def key(a: Automation) -> list[Any]:
                return [sign * fired(a.id), a.position, a.id]  # ties keep position order

            return Ordering(key, descending=False)
        key, default_descending = SORTS[sort_by]
        return Ordering(key, default_descending if sort_order is None else sort_order == "desc")

    # -- reading ---------------------------------------------------------------------------
    def get(self, account_id: str, automation_id: int, *, kinds: frozenset[Trigger] | None = None) -> Automation:
        """``kinds`` scopes a surface to the triggers it speaks: another kind's id is not found."""
        return _of_kind(self._store.get(account_id, automation_id), automation_id, kinds)

    def find_by_uuid(self, account_id: str, automation_uuid: str, *,
                     kinds: frozenset[Trigger] | None = None) -> Automation:
        """Piggy speaks uuids; a uuid of another account, or of another kind, is not found."""
        return _of_kind(self._store.find_by_uuid(account_id, automation_uuid), automation_uuid, kinds)

    def find(self, account_id: str, automation_id: int) -> Automation | None:
        return self._store.get(account_id, automation_id)

    def list(self, account_id: str, *, active: bool | None = None, kinds: frozenset[Trigger] | None = None,
             ordering: Ordering | None = None) -> list[Automation]:
        ordering = ordering or self.ordering(account_id)
        items = [a for a in self._store.list(account_id)
                 if (active is None or a.active == active) and (kinds is None or a.trigger in kinds)]
        items.sort(key=ordering.key, reverse=ordering.descending)
        return items

    def listening(self, account_id: str, trigger: Trigger, listens_to: str) -> list[Automation]:
        """The active ``trigger`` automations that ``listens_to`` starts (an event's name, a list's or
        community's id), by id: what an event or a join reads, instead of every automation."""
        return self._store.listening(account_id, trigger, listens_to)

    def search(self, account_id: str, query: str, *, active: bool | None = None, kinds: frozenset[Trigger] | None = None,
               ordering: Ordering | None = None) -> list[Automation]:
        """Titles containing every word of ``query`` (case-insensitive). Without ``sort_by`` the
        order is relevance: exact title, then title prefix, then word start, then anywhere."""
        words = query.lower().split()
        if not words:
            raise MalformedRequest("Required parameter missing: query", kind="missing", parameter="query")
        candidates = self.list(account_id, active=active, kinds=kinds, ordering=ordering)
        matches = [a for a in candidates if all(w in a.title.lower() for w in words)]
        if ordering is None:
            matches.sort(key=lambda a: _relevance(a.title.lower(), query.lower().strip()))
        return matches

    # -- writing ---------------------------------------------------------------------------
    def create(self, account_id: str, draft: AutomationDraft) -> Automation:
        return self.create_many(account_id, [draft])[0]

    def create_many(self, account_id: str, drafts: list[AutomationDraft]) -> list[Automation]:
        if len(drafts) > MAX_BULK:
            raise MalformedRequest(f"at most {MAX_BULK} automations per request", kind="too_many_values")
        now = clock.now()
        provisional = [self._from_draft(account_id, d, 0, 0, now) for d in drafts]
        self._validate_all(provisional)
        created = []
        for automation, (new_id, next_position), draft in zip(
                provisional, self._store.allocate(account_id, len(drafts)), drafts):
            position = next_position if draft.position is None else draft.position
            automation = automation.evolve(id=new_id, position=position)
            if draft.position is not None:
                self._store.raise_next_position(account_id, position)
            self._write(lambda a=automation: self._store.insert(a, ticket_rules.MAX_ACTIVE_AUTOMATIONS))
            self._on_change(None, automation)
            created.append(automation)
        return created

    def update(self, account_id: str, automation_id: int, changes: AutomationChanges, *,
               kinds: frozenset[Trigger] | None = None) -> Automation:
        return self.update_many(account_id, [(automation_id, changes)], kinds=kinds)[0]

    def update_many(self, account_id: str, updates: list[tuple[int, AutomationChanges]], *,
                    kinds: frozenset[Trigger] | None = None) -> list[Automation]:
        if len(updates) > MAX_BULK:
            raise MalformedRequest(f"at most {MAX_BULK} automations per request", kind="too_many_values")
        for automation_id, _ in updates:  # every id must exist before anything is written
            self.get(account_id, automation_id, kinds=kinds)
        return [self.change(account_id, automation_id, lambda _, c=changes: c) for automation_id, changes in updates]

    def change(self, account_id: str, automation_id: int, change: Callable[[Automation], AutomationChanges]
               ) -> Automation:
        """The automation changed by ``change(as stored)``, written on the version it was made
        from; when another request wrote it in between, ``change`` is applied again to what that
        request left, so neither change is lost."""
        for _ in range(_WRITE_ATTEMPTS):
            old = self.get(account_id, automation_id)
            changes = change(old)
            new = _apply(old, changes, clock.now())
            self._validate_all([new])
            try:
                self._write(lambda: self._store.replace(old, new, ticket_rules.MAX_ACTIVE_AUTOMATIONS))
            except StaleWrite:
                continue
            self._on_change(old, new)
            if changes.position is not None:
                self._store.raise_next_position(account_id, changes.position)
            return new
        raise Conflict("The automation was changed by another request; try again")

    def delete(self, account_id: str, automation_id: int, *, kinds: frozenset[Trigger] | None = None) -> None:
        self.delete_many(account_id, [automation_id], kinds=kinds)

    def delete_many(self, account_id: str, automation_ids: list[int], *,
                    kinds: frozenset[Trigger] | None = None) -> None:
        if len(automation_ids) > MAX_BULK:
            raise MalformedRequest(f"at most {MAX_BULK} ids per request", kind="too_many_values")
        for automation_id in automation_ids:
            self.get(account_id, automation_id, kinds=kinds)
        for automation_id in automation_ids:
            for _ in range(_WRITE_ATTEMPTS):
                current = self._store.get(account_id, automation_id)
                if current is None:
                    break  # deleted concurrently: the outcome asked for
                try:
                    self._store.delete(current)
                    self._on_change(current, None)
                    break
                except StaleWrite:
                    continue

    def install_defaults(self, account_id: str) -> list[Automation]:
        """Every Zendesk account starts with the rule that closes solved tickets after 4 days."""
        return [self.create(account_id, DEFAULT_CLOSE_RULE)]

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _from_draft(account_id: str, d: AutomationDraft, new_id: int, position: int, now) -> Automation:
        return Automation(
            account_id=account_id, id=new_id, uuid=str(uuid.uuid4()), title=d.title, active=d.active,
            position=position, subject=d.subject, trigger=d.trigger,
            conditions=_normalize_conditions(d.conditions), actions=_normalize_actions(d.actions),
            created_at=now, updated_at=now, trigger_config=dict(d.trigger_config), default=d.default,
        )

    @staticmethod
    def _validate_all(automations: list[Automation]) -> None:
        problems = Problems()
        for a in automations:
            validator = _VALIDATORS.get(a.trigger)
            if validator is None:
                problems.add("base", f'Trigger "{a.trigger}" is not supported yet')
            else:
                validator(a, problems)
        seen: dict[str, int] = {}
        for index, a in enumerate(automations):
            if a.active and seen.setdefault(a.fingerprint(), index) != index:
                problems.add("base", "Two automations in this request are identical")
        problems.raise_if_any()

    @staticmethod
    def _write(write: Callable[[], None]) -> None:
        try:
            write()
        except IdenticalActiveAutomation as e:
            where = f" (id {e.existing_id})" if e.existing_id is not None else ""
            raise ValidationFailed([FieldError(
                "base", f"An active automation with the same conditions and actions already exists{where}")]) from None
        except ActiveLimitReached:
            raise ValidationFailed([FieldError(
                "base", f"You have reached the limit of {ticket_rules.MAX_ACTIVE_AUTOMATIONS} active automations; "
                        "deactivate one first")]) from None


def _of_kind(automation: Automation | None, named: object, kinds: frozenset[Trigger] | None) -> Automation:
    """A surface sees only the kinds it speaks: another kind's automation is not found."""
    if automation is None or (kinds is not None and automation.trigger not in kinds):
        raise NotFound(f"automation {named} not found")
    return automation


def _normalize_conditions(conditions: Conditions) -> Conditions:
    return Conditions(all=tuple(ticket_rules.normalize_condition(c) for c in conditions.all),
                      any=tuple(ticket_rules.normalize_condition(c) for c in conditions.any))


def _normalize_actions(actions: Iterable[Action]) -> tuple[Action, ...]:
    return tuple(ticket_rules.normalize_action(a) for a in actions)


def _apply(old: Automation, changes: AutomationChanges, now) -> Automation:
    updated = old.evolve(
        title=old.title if changes.title is None else changes.title,
        active=old.active if changes.active is None else changes.active,
        position=old.position if changes.position is None else changes.position,
        conditions=old.conditions if changes.conditions is None else _normalize_conditions(changes.conditions),
        actions=old.actions if changes.actions is None else _normalize_actions(changes.actions),
        trigger=old.trigger if changes.trigger is None else changes.trigger,
        trigger_config=old.trigger_config if changes.trigger_config is None else dict(changes.trigger_config),
    )
    if updated == old:
        return old.evolve(version=old.version + 1)
    return updated.evolve(updated_at=now, version=old.version + 1)


def _relevance(title: str, query: str) -> int:
    """Lower is better; the sort is stable, so equal ranks keep position order."""
    if title == query:
        return 0
    if title.startswith(query):
        return 1
    if any(word.startswith(query.split()[0]) for word in title.split()):
        return 2
    return 3

