"""The native API's automations: every kind the engine runs, through one set of use cases.

Drafts are stored through AutomationService (the same store, ids, uniqueness and cap as the
Zendesk and VipeCloud surfaces, so an automation made on one appears on the others). Before
that, what a draft points at is checked against the account: a contact rule's list, community,
templates and fields by ContactAutomationService; an event or manual automation's templates
(of the type each action takes), custom fields (in actions and conditions), webhooks and the
Liquid of its webhook bodies and event details here."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from automations import clock
from automations.domain import contact_conditions, contact_rules, event_rules, evaluator, timing
from automations.domain.account import Account
from automations.domain.business_hours import BusinessHours
from automations.domain.contact_rules import ActionKind, ContactRule
from automations.domain.contacts import Contact, FieldScope, is_uuid
from automations.domain.model import Action, Automation, AutomationChanges, AutomationDraft, SubjectKind, Trigger, keep_subject
from automations.domain.run import Run, RunStatus, run_id
from automations.errors import FieldError, NotFound, Problems, ValidationFailed
from automations.inputs import MAX_ID, parse_whole
from automations.service.automations import AutomationService
from automations.service.contact_automations import ContactAutomationService
from automations.service.contacts import CustomFieldService, TemplateService
from automations.service.deliveries import Unaddressable
from automations.service.rendering import syntax_error

# How far ahead a dry run looks for a recurring or date-field occurrence (a date comes round
# once a year; the 29th of February once in four).
_LOOKAHEAD_DAYS = 4 * 366


class NativeAutomationService:
    def __init__(self, automations: AutomationService, contact_automations: ContactAutomationService,
                 fields: CustomFieldService, templates: TemplateService,
                 find_webhook: Callable[[str, str], dict | None]) -> None:
        self._automations = automations
        self._contact_automations = contact_automations
        self._fields = fields
        self._templates = templates
        self._find_webhook = find_webhook

    # -- reading ---------------------------------------------------------------------------------
    def get(self, account_id: str, ref: str) -> Automation:
        """By integer id or by uuid; anything else, and another account's, is not found."""
        if number := parse_whole(ref, MAX_ID):
            return self._automations.get(account_id, number)
        if not is_uuid(ref):
            raise NotFound(f"automation {ref} not found")
        return self._automations.find_by_uuid(account_id, ref)

    def list(self, account_id: str, *, active: bool | None = None, trigger: Trigger | None = None,
             subject: SubjectKind | None = None) -> list[Automation]:
        """By id (stable under concurrent writes, so cursors stay valid)."""
        kinds = frozenset({trigger}) if trigger is not None else None
        found = self._automations.list(account_id, active=active, kinds=kinds)
        return sorted((a for a in found if subject is None or a.subject == subject), key=lambda a: a.id)

    # -- writing ---------------------------------------------------------------------------------
    def create(self, account_id: str, draft: AutomationDraft) -> Automation:
        return self._automations.create(account_id, self._checked(account_id, draft))

    def patch(self, account_id: str, ref: str, patched: Callable[[Automation], AutomationDraft]) -> Automation:
        """The automation replaced by ``patched(as stored)`` (a PATCH merged over it; its kind of
        subject stays), merged again over what another request wrote in between, if one did:
        the attributes the PATCH leaves out keep their latest values."""
        found = self.get(account_id, ref)
        return self._automations.change(account_id, found.id, lambda current: self._changes(current, patched(current)))

    def _changes(self, current: Automation, draft: AutomationDraft) -> AutomationChanges:
        keep_subject(current, draft.subject)
        draft = self._checked(current.account_id, draft)
        return AutomationChanges(title=draft.title, active=draft.active, position=draft.position,
                                 conditions=draft.conditions, actions=draft.actions, trigger=draft.trigger,
                                 trigger_config=draft.trigger_config)

    def delete(self, account_id: str, ref: str) -> None:
        self._automations.delete(account_id, self.get(account_id, ref).id)

    # -- references --------------------------------------------------------------------------------
    def _checked(self, account_id: str, draft: AutomationDraft) -> AutomationDraft:
        """``draft`` with its references checked and custom field values normalised."""
        if draft.trigger in contact_rules.CONTACT_TRIGGERS:
            # A draft carries what ContactRule reads (trigger, trigger_config, actions).
            rule = self._contact_automations.check(account_id, ContactRule.from_automation(draft))
            return replace(draft, actions=(rule.action.to_action(),))
        if draft.trigger in event_rules.EVENT_TRIGGERS:
            return replace(draft, actions=self._checked_actions(account_id, draft))
        return draft

    def _checked_actions(self, account_id: str, draft: AutomationDraft) -> tuple[Action, ...]:
        """Every problem at once: the rule's own (what AutomationService checks again on save) and
        its references."""
        problems = Problems()
        now = clock.now()
        event_rules.validate_event_rule(Automation(
            account_id=account_id, id=0, uuid="", title=draft.title, active=draft.active, position=0,
            subject=draft.subject, trigger=draft.trigger, conditions=draft.conditions, actions=draft.actions,
            created_at=now, updated_at=now, trigger_config=draft.trigger_config), problems)
        for group, conditions in (("all", draft.conditions.all), ("any", draft.conditions.any)):
            for index, condition in enumerate(conditions):
                field_id = contact_conditions.custom_field_id(condition.field)
                if field_id is not None and not self._is_contact_field(account_id, field_id):
                    problems.add(f"conditions.{group}.{index}",
                                 f"Condition {index + 1} of {group}: custom field {field_id} is not a contact "
                                 "field of this account")
        actions = [self._checked_action(account_id, index, action, problems)
                   for index, action in enumerate(draft.actions)]
        problems.raise_if_any()
        return tuple(actions)

    def _checked_action(self, account_id: str, index: int, action: Action, problems: Problems) -> Action:
        where, value = f"actions.{index}", action.value
        try:
            if action.field in contact_rules.TEMPLATE_TYPE:
                ids = value["template_ids"] if action.field in contact_rules.CANCELS else [value["template_id"]]
                self._contact_automations.check_templates(account_id, ActionKind(action.field), ids)
            elif action.field == ActionKind.SET_CUSTOM_FIELD:
                _, normalized = self._contact_automations.check_field_action(
                    account_id, value["custom_field_id"], value["value"])
                return Action(action.field, {**value, "value": normalized})
            elif action.field == event_rules.WEBHOOK and self._find_webhook(account_id, value["webhook_id"]) is None:
                problems.add(where, f"Action {index + 1}: webhook {value['webhook_id']} not found")
        except ValidationFailed as e:
            problems.add(where, f"Action {index + 1}: {e.message}")
        except (KeyError, TypeError):
            pass  # a malformed action: validate_event_rule says what is wrong with it
        for part, source in event_rules.liquid_sources(action):
            message = syntax_error(source)
            if message:
                problems.add(f"{where}.{part}", f"Action {index + 1}: {part} is not valid Liquid: {message}")
        return action

    def _is_contact_field(self, account_id: str, field_id: int) -> bool:
        field = self._fields.find(account_id, field_id)
        return field is not None and field.scope == FieldScope.CONTACT


# -- dry runs ----------------------------------------------------------------------------------------
class DryRun:
    """What an automation would do for one contact or ticket now, sending and storing nothing:
    whether it matches, when it would fire, and what it would send (and, for a ticket, change)."""

    def __init__(self, accounts, tickets, contacts, deliveries: Callable[[], Any],
                 preview: Callable[[str, Automation, Contact, Any], list[dict[str, Any]]]) -> None:
        self._accounts = accounts
        self._tickets = tickets
        self._contacts = contacts
        self._deliveries = deliveries  # built on first use: only ticket dry runs need it
        self._preview = preview

    def ticket(self, automation: Automation, ticket_id: int) -> dict[str, Any]:
        """The sweep's evaluator on the ticket now. A sweep rule fires at the next hourly sweep,
        whose instant the schedule decides, so ``due_at`` is null."""
        self._expect(automation, SubjectKind.TICKET)
        account = self._accounts.get_account(automation.account_id)
        ticket = self._tickets.get(account.id, ticket_id)
        now = clock.now()
        calendar = BusinessHours(account.timezone, **account.business_hours)
        if not evaluator.matches(automation, ticket, now, calendar):
            return _outcome(False, None, [], {})
        changed, changes, notifications = evaluator.apply_actions(ticket, automation.actions, now)
        occurrence = f"dry_run:{now.isoformat()}"
        run = Run(account_id=account.id, id=run_id(account.id, automation.id, SubjectKind.TICKET, str(ticket.id),
                                                  occurrence),
                  automation_id=automation.id, subject_kind=SubjectKind.TICKET, subject_id=str(ticket.id),
                  occurrence=occurrence, status=RunStatus.SCHEDULED, created_at=now, updated_at=now)
        try:
            prepared = self._deliveries().prepare(account, changed, run, tuple(notifications))
        except Unaddressable as e:  # a stored rule today's checks would refuse: what its firings meet
            raise ValidationFailed([FieldError("actions", str(e))]) from None
        sends = [{"channel": d.channel.value, "recipient": d.recipient, "subject": d.subject, "body": d.body}
                 for d in prepared]
        return _outcome(True, None, sends, changes)

    def contact(self, automation: Automation, contact_uuid: str, data: Any) -> dict[str, Any]:
        self._expect(automation, SubjectKind.CONTACT)
        account = self._accounts.get_account(automation.account_id)
        contact = self._contacts.get(account.id, contact_uuid)
        now = clock.now()
        due = _contact_due(automation, contact, account, now)
        if due is None or not contact_conditions.matches(automation.conditions, contact, data):
            return _outcome(False, None, [], {})
        return _outcome(True, due, self._preview(account.id, automation, contact, data), {})

    @staticmethod
    def _expect(automation: Automation, subject: SubjectKind) -> None:
        if automation.subject != subject:
            given = "ticket_id" if subject == SubjectKind.TICKET else "contact_uuid"
            wanted = "contact_uuid" if subject == SubjectKind.TICKET else "ticket_id"
            raise ValidationFailed([FieldError(given, f"This automation applies to {automation.subject}s: "
                                                      f"give {wanted}, not {given}")])


def _outcome(matches: bool, due_at: datetime | None, sends: list[dict[str, Any]],
             changes: dict[str, Any]) -> dict[str, Any]:
    return {"matches": matches, "due_at": due_at, "would_send": sends, "would_change": changes}


def _contact_due(automation: Automation, contact: Contact, account: Account, now: datetime) -> datetime | None:
    """When the automation would next fire for ``contact`` if triggered now (an event, a join, a
    run asked for now), or at its next recurring or date-field occurrence; None when it never
    would (no date in the contact's date field)."""
    zone = timing.zone_of(contact.timezone, account.timezone)
    if automation.trigger in event_rules.EVENT_TRIGGERS:
        delay, window = timing.delay_and_window(automation)
        return timing.due_at(now, delay, window, zone)
    rule = ContactRule.from_automation(automation)
    if rule.recurrence is None and rule.date_field is None:
        return timing.due_at(now, rule.delay, rule.window, zone)
    if rule.recurrence is not None:  # recurring rules run on the account's clock
        firing = timing.next_firing(rule, timing.zone_of(account.timezone), now - timedelta(microseconds=1))
        return timing.due_at(firing.at, rule.delay, rule.window, zone)
    held = contact.custom_fields.get(str(rule.date_field.custom_field_id))
    if not isinstance(held, str):
        return None
    coming = timing.anniversaries_between(date.fromisoformat(held), rule.date_field.at, zone, now,
                                          now + timedelta(days=_LOOKAHEAD_DAYS))
    return timing.due_at(coming[0][1], rule.delay, rule.window, zone) if coming else None
