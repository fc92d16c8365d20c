"""Native API shapes (/v1/automations) for every kind of automation, and their translation to and
from the engine's drafts. The body of a create is one of four shapes, told apart by ``trigger``:
sweep (Zendesk's ticket conditions and actions), the contact rules (contact_rules' trigger_config,
exactly one action), event and manual (contact conditions, 1-25 actions). An automation is shown
in the shape it is written in, so a GET body (less its read-only attributes) can be sent back.
The models check types and sizes; what a valid rule is stays in the domain (422 either way)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from automations.domain import contact_rules as rules, event_rules
from automations.domain.contact_rules import ClockTime, ContactRule, DateFieldTrigger, RuleAction
from automations.domain.contacts import GroupKind
from automations.domain.model import (
    Action, Automation, AutomationDraft, Condition, Conditions, SubjectKind, Trigger, keep_subject,
)
from automations.inputs import MAX_SAFE_INTEGER
from automations.surfaces import native_problems
from automations.surfaces.native_automation_answers import automation_out
from automations.surfaces.native_models import Input

MAX_TITLE = 10_000
_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"
ClockText = Annotated[str, Field(pattern=_TIME, description='a wall-clock time "HH:MM" (24 hours)')]
Id = Annotated[int, Field(ge=1, lt=MAX_SAFE_INTEGER + 1)]  # lt: the OpenAPI document's exclusiveMaximum


class _Common(Input):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    active: bool = True
    position: int | None = Field(None, ge=0, lt=2 ** 31, description="order of sweep rules; next free one if left out")


# -- sweep: Zendesk's ticket rules -----------------------------------------------------------------
class TicketCondition(Input):
    field: str = Field(min_length=1, max_length=100, description="a Zendesk ticket field, e.g. status, SOLVED")
    operator: str = Field(min_length=1, max_length=50)
    value: str | int | None = ""


class TicketConditions(Input):
    all: list[TicketCondition] = Field(default_factory=list, max_length=100)
    any: list[TicketCondition] = Field(default_factory=list, max_length=100)


class TicketAction(Input):
    field: str = Field(min_length=1, max_length=100,
                       description="a Zendesk action field, e.g. status, notification_user")
    value: str | int | list[str | int]


class SweepAutomationIn(_Common):
    """Zendesk's time-based rule over tickets, run by the hourly sweep."""

    trigger: Literal["sweep"]
    conditions: TicketConditions
    actions: list[TicketAction] = Field(min_length=1, max_length=100)


# -- actions on a contact --------------------------------------------------------------------------
class SendAction(Input):
    kind: Literal["send_email", "send_text", "start_series"]
    template_id: Id = Field(description="a template of the action's type: email, text or series")


class CancelAction(Input):
    kind: Literal["cancel_email", "cancel_text", "cancel_series"]
    template_ids: list[Id] = Field(min_length=1, max_length=rules.MAX_TEMPLATE_IDS,
                                   description="the templates whose scheduled sends are cancelled")


class SetCustomFieldAction(Input):
    kind: Literal["set_custom_field"]
    custom_field_id: Id = Field(description="a contact custom field")
    value: str | int | float | bool | list[str] = Field(description="a value of the field's type")


class WebhookAction(Input):
    kind: Literal["webhook"]
    webhook_id: str = Field(min_length=1, max_length=event_rules.MAX_WEBHOOK_ID)
    body: str | None = Field(None, max_length=100_000, description="Liquid; the run's context as JSON when left out")


class EmitEventAction(Input):
    kind: Literal["emit_event"]
    detail_type: str = Field(min_length=1, max_length=event_rules.MAX_DETAIL_TYPE)
    detail: dict[str, Any] = Field(default_factory=dict, description="every string value in it is Liquid")


ContactRuleAction = Annotated[SendAction | CancelAction | SetCustomFieldAction, Field(discriminator="kind")]
EventAction = Annotated[SendAction | CancelAction | SetCustomFieldAction | WebhookAction | EmitEventAction,
                        Field(discriminator="kind")]


# -- when ------------------------------------------------------------------------------------------
class DelayIn(Input):
    days: int = Field(0, ge=0)
    hours: int = Field(0, ge=0)
    minutes: int = Field(0, ge=0)


class WindowIn(Input):
    """Sends wait until the window opens, in the contact's timezone (else the account's); a
    window whose start is after its end crosses midnight."""

    model_config = ConfigDict(populate_by_name=True)

    from_: ClockText = Field(alias="from")
    to: ClockText


class SourceIn(Input):
    kind: Literal["list", "community"]
    id: Id


class RecurrenceIn(Input):
    day: str | int = Field(description="daily, a weekday name (weekly) or 1-31 (monthly)")
    at: ClockText
    weekday_only: bool = False


class DateFieldIn(Input):
    custom_field_id: Id = Field(description="a contact date field")
    at: ClockText


class ContactRuleConfig(Input):
    source: SourceIn
    delay: DelayIn = Field(default_factory=DelayIn)
    window: WindowIn | None = None
    recurrence: RecurrenceIn | None = Field(None, description="recurring only")
    date_field: DateFieldIn | None = Field(None, description="date_field only")


class ContactRuleIn(_Common):
    """The contact rules VipeCloud speaks: a contact joins a list or community, a recurring
    schedule over a list, or the date in a list contact's date field."""

    trigger: Literal["list_joined", "community_joined", "recurring", "date_field"]
    trigger_config: ContactRuleConfig
    actions: list[ContactRuleAction] = Field(min_length=1, max_length=1)


# -- event and manual ------------------------------------------------------------------------------
class ContactCondition(Input):
    field: str = Field(min_length=1, max_length=200,
                       description="email, phone, first_name, last_name, timezone, custom_fields.<id> or data.<key>")
    operator: Literal["is", "is_not", "present", "not_present", "contains", "not_contains", "greater_than",
                      "less_than"]
    value: str | int | float | bool | None = None


class ContactConditions(Input):
    all: list[ContactCondition] = Field(default_factory=list, max_length=50)
    any: list[ContactCondition] = Field(default_factory=list, max_length=50)


class EventConfig(Input):
    event: str = Field(min_length=1, max_length=100,
                       description="a Piggy event (contact_updated...) or the host's own, with a dot: "
                                   "shop.order_placed")
    delay: DelayIn = Field(default_factory=DelayIn)
    window: WindowIn | None = None


class ManualConfig(Input):
    delay: DelayIn = Field(default_factory=DelayIn)
    window: WindowIn | None = None


class EventAutomationIn(_Common):
    """Runs when the event happens to a contact that meets the conditions (the event's data in
    scope as data.<key>)."""

    trigger: Literal["event"]
    trigger_config: EventConfig
    conditions: ContactConditions = Field(default_factory=ContactConditions)
    actions: list[EventAction] = Field(min_length=1, max_length=event_rules.MAX_ACTIONS)


class ManualAutomationIn(_Common):
    """Runs when a run is asked for through the API."""

    trigger: Literal["manual"]
    trigger_config: ManualConfig = Field(default_factory=ManualConfig)
    conditions: ContactConditions = Field(default_factory=ContactConditions)
    actions: list[EventAction] = Field(min_length=1, max_length=event_rules.MAX_ACTIONS)


AutomationIn = Annotated[SweepAutomationIn | ContactRuleIn | EventAutomationIn | ManualAutomationIn,
                         Field(discriminator="trigger")]
_MODELS: dict[Trigger, type[_Common]] = {
    Trigger.SWEEP: SweepAutomationIn, **{t: ContactRuleIn for t in rules.CONTACT_TRIGGERS},
    Trigger.EVENT: EventAutomationIn, Trigger.MANUAL: ManualAutomationIn,
}
_BODY = TypeAdapter(AutomationIn, config=ConfigDict(defer_build=True))  # built on first use, like the models


class AutomationPatch(Input):
    """Attributes left out stay; each one given replaces the automation's own (conditions and
    actions whole), in the shapes of a create."""

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    active: bool | None = None
    position: int | None = Field(None, ge=0, lt=2 ** 31)
    trigger: Literal["sweep", "list_joined", "community_joined", "recurring", "date_field", "event", "manual"] | None \
        = Field(None, description="within the same subject: a ticket rule stays a ticket rule")
    trigger_config: dict[str, Any] | None = None
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(None, max_length=100)


# -- requests to drafts ----------------------------------------------------------------------------
def draft(body: SweepAutomationIn | ContactRuleIn | EventAutomationIn | ManualAutomationIn) -> AutomationDraft:
    common = {"title": body.title, "active": body.active, "position": body.position}
    if isinstance(body, SweepAutomationIn):
        return AutomationDraft(
            conditions=_conditions(body.conditions), actions=tuple(Action(a.field, a.value) for a in body.actions),
            subject=SubjectKind.TICKET, trigger=Trigger.SWEEP, **common)
    if isinstance(body, ContactRuleIn):
        rule_draft = _contact_rule(body).draft()
        return AutomationDraft(conditions=rule_draft.conditions, actions=rule_draft.actions,
                               subject=SubjectKind.CONTACT, trigger=rule_draft.trigger,
                               trigger_config=rule_draft.trigger_config, **common)
    config = body.trigger_config
    event = config.event if isinstance(config, EventConfig) else None
    return AutomationDraft(
        conditions=_conditions(body.conditions), actions=tuple(_action(a) for a in body.actions),
        subject=SubjectKind.CONTACT, trigger=Trigger(body.trigger),
        trigger_config=event_rules.trigger_config(event, _delay(config.delay), _window(config.window)), **common)


def merged(current: Automation, patch: AutomationPatch) -> AutomationDraft:
    """The draft that ``patch`` makes of ``current``: each attribute given replaces its own."""
    shown = automation_out(current).model_dump(mode="json")
    given = patch.model_dump(exclude_unset=True)
    if given.get("trigger") is not None:
        keep_subject(current, SubjectKind.TICKET if given["trigger"] == Trigger.SWEEP else SubjectKind.CONTACT)
    body = {name: shown[name] for name in _MODELS[current.trigger].model_fields if name in shown} | given
    try:
        return draft(_BODY.validate_python(body))
    except ValidationError as e:
        raise native_problems.InvalidRequest(native_problems.field_errors(e.errors(), AutomationIn, body)) from None


def _conditions(given: TicketConditions | ContactConditions) -> Conditions:
    return Conditions(all=tuple(Condition(c.field, c.operator, c.value) for c in given.all),
                      any=tuple(Condition(c.field, c.operator, c.value) for c in given.any))


def _action(given: BaseModel) -> Action:
    value = given.model_dump(exclude={"kind"})
    if "template_ids" in value:
        value["template_ids"] = list(dict.fromkeys(value["template_ids"]))
    return Action(given.kind, value)


def _delay(given: DelayIn) -> rules.Delay:
    labels = ("trigger_config.delay.days", "trigger_config.delay.hours", "trigger_config.delay.minutes")
    return rules.read_delay(given.days, given.hours, given.minutes, labels)


def _window(given: WindowIn | None) -> rules.SendWindow | None:
    return rules.read_window(ClockTime.parse(given.from_), ClockTime.parse(given.to)) if given else None


def _contact_rule(body: ContactRuleIn) -> ContactRule:
    config = body.trigger_config
    recurrence = config.recurrence
    return ContactRule(
        trigger=Trigger(body.trigger), source_kind=GroupKind(config.source.kind), source_id=config.source.id,
        action=RuleAction.from_action(_action(body.actions[0])), delay=_delay(config.delay),
        window=_window(config.window),
        recurrence=rules.read_recurrence(rules.read_day(recurrence.day, "trigger_config.recurrence.day"),
                                         ClockTime.parse(recurrence.at), recurrence.weekday_only)
        if recurrence else None,
        date_field=DateFieldTrigger(config.date_field.custom_field_id, ClockTime.parse(config.date_field.at))
        if config.date_field else None)
