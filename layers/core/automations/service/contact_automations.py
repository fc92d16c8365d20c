"""Contact automations (the VipeCloud surface's rules, and the native API's contact rules),
stored as the engine's own Automation through AutomationService, their references checked against
the contact side's records (service/contacts.py, which loads no rule modules for its own routes)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from automations.domain import contact_rules
from automations.domain.contact_rules import ActionKind, ContactRule, RuleDraft, known
from automations.domain.contacts import CustomField, FieldScope, FieldType, Group, GroupKind, Template
from automations.domain.model import Automation, AutomationChanges, Trigger
from automations.errors import FieldError, NotFound, ValidationFailed
from automations.inputs import MAX_ID
from automations.service.automations import AutomationService
from automations.service.contacts import CustomFieldService, GroupService, TemplateService
from automations.service.numbered import NumberedService


def _invalid(code: str, message: str, field_name: str = "base") -> ValidationFailed:
    return ValidationFailed([FieldError(field_name, message, code)])


@dataclass(frozen=True)
class RuleReferences:
    """What a contact rule points at, for display (None: deleted since)."""

    group: Group | None
    templates: tuple[Template | None, ...]
    custom_field: CustomField | None  # set_custom_field's field
    date_field: CustomField | None


class ContactAutomationService:
    """Contact automations (list_joined, community_joined, recurring, date_field), stored as the
    engine's own Automation through AutomationService. The ``check_*`` methods check a rule's
    references one at a time, each failure a ValidationFailed with a stable ``code`` (surfaces
    choose their own wording); ``create``/``update`` check a rule or a surface's draft once, in
    the order of its parts (``check``), ``save`` not at all."""

    def __init__(self, automations: AutomationService, lists: GroupService, communities: GroupService,
                 fields: CustomFieldService, templates: TemplateService) -> None:
        self._automations = automations
        self._groups = {GroupKind.LIST: lists, GroupKind.COMMUNITY: communities}
        self._fields = fields
        self._templates = templates

    # -- reference checks, in the order they are best reported ------------------------------
    def check_source(self, account_id: str, kind: GroupKind, group_id: int | None) -> Group:
        found = self._groups[kind].find(account_id, group_id) if group_id else None
        if found is None:
            raise _invalid(f"{kind.value}_not_found", f"{self._groups[kind].noun.capitalize()} not found")
        return found

    def check_field_action(self, account_id: str, field_id: int | None, value: Any) -> tuple[CustomField, Any]:
        """The contact field an action sets and ``value`` normalised for its type."""
        field = self._contact_field(account_id, field_id)
        normalized, reason = field.check_value(value)
        if reason:
            code = {FieldType.CHECKBOX: "checkbox_value", FieldType.DROPDOWN: "dropdown_value"}.get(
                field.type, "custom_field_value")
            raise _invalid(code, f"Custom field value {reason}", "custom_field_value")
        return field, normalized

    def check_templates(self, account_id: str, kind: ActionKind, template_ids: Iterable[int | None]) -> list[Template]:
        """Each id must be a template of the type the action takes (a text template is not found
        by an email action)."""
        wanted_type = contact_rules.TEMPLATE_TYPE[kind]
        found = []
        for template_id in template_ids:
            template = self._templates.find(account_id, template_id) if template_id else None
            if template is None or template.type != wanted_type:
                raise _invalid("template_not_found", "Template not found", "template_id")
            found.append(template)
        if not found:
            raise _invalid("template_not_found", "Template not found", "template_id")
        return found

    def check_date_field(self, account_id: str, field_id: int | None) -> CustomField:
        field = self._contact_field(account_id, field_id)
        if field.type != FieldType.DATE:
            raise _invalid("custom_field_not_date", "Custom field must be a date field", "custom_field_id")
        return field

    def _contact_field(self, account_id: str, field_id: int | None) -> CustomField:
        field = self._fields.find(account_id, field_id) if field_id else None
        if field is None:
            raise _invalid("custom_field_not_found", "Custom field not found", "custom_field_id")
        if field.scope != FieldScope.CONTACT:
            raise _invalid("custom_field_not_contact", "Custom field must be a contact field", "custom_field_id")
        return field

    def check(self, account_id: str, rule: ContactRule | RuleDraft, automation_id: int | None = None) -> ContactRule:
        """Every reference of ``rule``, part by part (RuleDraft): the source, the action (its
        custom field value normalised, or its templates), the trigger (a draft without one keeps
        automation ``automation_id``'s own: NotFound without that automation, ``trigger_required``
        when its trigger does not fit), then its timing's date field. Returns the rule, checked."""
        draft = rule if isinstance(rule, RuleDraft) else RuleDraft.of(rule)
        self.check_source(account_id, draft.source_kind, draft.source_id)
        action = known(draft.action)
        if action.kind == ActionKind.SET_CUSTOM_FIELD:
            _, value = self.check_field_action(account_id, action.custom_field_id, action.value)
            action = replace(action, value=value)
        else:
            self.check_templates(account_id, action.kind, action.referenced_template_ids)
        trigger = known(draft.trigger)
        if trigger is None:
            trigger = self._kept_trigger(account_id, automation_id, draft)
        timing = known(draft.timings[trigger])
        if timing.date_field:
            self.check_date_field(account_id, timing.date_field.custom_field_id)
        return draft.rule(trigger, action, timing)

    def _kept_trigger(self, account_id: str, automation_id: int | None, draft: RuleDraft) -> Trigger:
        current = self.get(account_id, automation_id) if automation_id is not None else None
        if current is None or current.trigger not in draft.timings:
            raise _invalid("trigger_required", "A trigger is required unless the automation's own fits", "trigger")
        return current.trigger

    # -- use cases ----------------------------------------------------------------------------
    def create(self, account_id: str, rule: ContactRule | RuleDraft) -> Automation:
        return self.save(account_id, self.check(account_id, rule))

    def update(self, account_id: str, automation_id: int, rule: ContactRule | RuleDraft) -> Automation:
        return self.save(account_id, self.check(account_id, rule, automation_id), automation_id)

    def save(self, account_id: str, rule: ContactRule, automation_id: int | None = None) -> Automation:
        """Store a rule whose references were checked; replaces ``automation_id`` when given
        (NotFound unless it is a contact automation of the account)."""
        draft = rule.draft()
        if automation_id is None:
            return self._automations.create(account_id, draft)
        self.get(account_id, automation_id)
        return self._automations.update(account_id, automation_id, AutomationChanges(
            title=draft.title, actions=draft.actions, conditions=draft.conditions, trigger=draft.trigger,
            trigger_config=draft.trigger_config))

    def get(self, account_id: str, automation_id: int) -> Automation:
        """Only contact automations: a ticket rule's id answers like a missing one."""
        automation = self._automations.get(account_id, automation_id) if 0 < automation_id <= MAX_ID else None
        if automation is None or automation.trigger not in contact_rules.CONTACT_TRIGGERS:
            raise NotFound(f"automation {automation_id} not found")
        return automation

    def list(self, account_id: str) -> list[Automation]:
        """The account's contact automations, by id."""
        return sorted((a for a in self._automations.list(account_id) if a.trigger in contact_rules.CONTACT_TRIGGERS),
                      key=lambda a: a.id)

    def references(self, account_id: str, automations: Iterable[Automation]) -> dict[int, RuleReferences]:
        """What each automation points at, each record read once."""
        memo: dict[tuple[str, Any], Any] = {}

        def lookup(service: NumberedService, item_id: int | None) -> Any:
            key = (service.noun, item_id)
            if key not in memo:
                memo[key] = service.find(account_id, item_id) if isinstance(item_id, int) else None
            return memo[key]

        out = {}
        for automation in automations:
            rule = ContactRule.from_automation(automation)
            action = rule.action
            out[automation.id] = RuleReferences(
                group=lookup(self._groups[rule.source_kind], rule.source_id),
                templates=tuple(lookup(self._templates, i) for i in action.referenced_template_ids),
                custom_field=lookup(self._fields, action.custom_field_id),
                date_field=lookup(self._fields, rule.date_field.custom_field_id) if rule.date_field else None)
        return out
