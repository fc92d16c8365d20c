"""The VipeCloud-compatible surface (/automations and the old /autoresponders): VipeCloud's
request fields, response shapes, messages and the order it checks things in, translated to and
from the engine's contact rules (domain/contact_rules.py). No business rules here: what a valid
rule is, and which records it may point at, is decided in the domain and in
service/contact_automations.py; this module picks VipeCloud's words, and reads a body into a draft whose
parts the service checks in VipeCloud's order."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from automations.domain import contact_rules as rules
from automations.domain.contact_rules import ActionKind, ContactRule, RuleAction
from automations.domain.contacts import GroupKind
from automations.domain.model import Automation, Trigger
from automations.errors import DomainError, FieldError, NotFound, TooLarge, Unauthenticated, ValidationFailed
from automations.inputs import MAX_ID, parse_whole
from automations.service.contact_automations import ContactAutomationService, RuleReferences
from automations.surfaces.http import HttpRequest, endpoint as _endpoint, json_response

# VipeCloud's messages, word for word (see docs/vipecloud.md for the ones this product adds).
CONTACT_LIST_REQUIRED = ("Creating or updating an Automation requires a contact_list_id, template_type, and "
                         "(template_id if not a cancel template_type or template_ids array if a cancel type).")
SUITE_PARTY_REQUIRED = "Creating a suite_party automation requires suite_party_id and template_type."
CUSTOM_FIELD_REQUIRED = "custom_field template_type requires action_custom_field_id and action_custom_field_value."
CREATE_FAILED = "Failed to create automation."
UPDATE_FAILED = "Automation not found or update failed."
NOT_FOUND = "Automation not found."
AUTHENTICATION_FAILED = "Authentication failed"
# The service's reference problems, by code, in VipeCloud's words.
REFERENCE_MESSAGES = {
    "list_not_found": "Contact list not found.",
    "community_not_found": "Suite/Community not found.",
    "custom_field_not_found": "Custom field not found.",
    "custom_field_not_contact": "Custom field must be a contact field type.",
    "checkbox_value": "Checkbox custom field value must be 'true' or 'false'.",
    "dropdown_value": "Invalid value for dropdown/picklist custom field.",
    "template_not_found": "Template not found.",
    "custom_field_not_date": "Custom field must be a date field type.",
    "trigger_required": UPDATE_FAILED,  # only an update may leave the trigger out
}

TEMPLATE_TYPES = {
    "email": ActionKind.SEND_EMAIL, "text": ActionKind.SEND_TEXT, "series": ActionKind.START_SERIES,
    "custom_field": ActionKind.SET_CUSTOM_FIELD, "cancel_email": ActionKind.CANCEL_EMAIL,
    "cancel_text": ActionKind.CANCEL_TEXT, "cancel_series": ActionKind.CANCEL_SERIES,
}
TEMPLATE_TYPE_NAMES = {kind: name for name, kind in TEMPLATE_TYPES.items()}
LIST_TRIGGERS = {"contact": Trigger.LIST_JOINED, "recurring": Trigger.RECURRING, "custom_field": Trigger.DATE_FIELD}
TRIGGER_NAMES = {**{t: name for name, t in LIST_TRIGGERS.items()}, Trigger.COMMUNITY_JOINED: "suite_party_joined"}
ITEM_TYPES = {GroupKind.LIST: "contact_list", GroupKind.COMMUNITY: "suite_party"}
_MISSING = object()
T = TypeVar("T")


def _sentence(message: str, *, capitalize: bool = True) -> str:
    """VipeCloud's messages are sentences; field names (``delay_days ...``) keep their case."""
    message = message.strip() or "Request failed"
    if capitalize:
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _error(status: int, message: str) -> dict[str, Any]:
    return json_response(status, {"status": "error", "message": message})


class VipeCloudSurface:
    """Errors as ``{"status": "error", "message"}``: 401 unauthenticated, 413 too large, 422
    for everything a client got wrong (VipeCloud's "incorrect post", not-found cases included)."""

    def error_response(self, error: DomainError) -> dict[str, Any]:
        if isinstance(error, Unauthenticated):
            return _error(401, AUTHENTICATION_FAILED)
        if isinstance(error, TooLarge):
            return _error(413, _sentence(error.message))
        if isinstance(error, ValidationFailed) and error.errors:
            first = error.errors[0]
            return _error(422, REFERENCE_MESSAGES.get(first.code) or _sentence(first.message, capitalize=False))
        return _error(422, _sentence(error.message))

    def unexpected_error_response(self) -> dict[str, Any]:
        return _error(500, "Something went wrong; please retry.")

    def unknown_endpoint_response(self) -> dict[str, Any]:
        return _error(404, "Endpoint not found.")


SURFACE = VipeCloudSurface()


def endpoint(fn):
    return _endpoint(SURFACE)(fn)


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("base", message)])


@contextmanager
def not_found_as(message: str) -> Iterator[None]:
    """VipeCloud words each endpoint's not-found differently."""
    try:
        yield
    except NotFound:
        raise NotFound(message) from None


def path_id(request: HttpRequest) -> int:
    """The ``{id}`` segment; anything but digits names no automation (0)."""
    return parse_whole(request.path_params.get("id", ""), MAX_ID) or 0


# -- requests --------------------------------------------------------------------------------------
def _first(body: dict[str, Any], *names: str) -> Any:
    """The first of several spellings that is present (``trigger_type``/``trigger``,
    ``day``/``recurring_day``...)."""
    return next((body[n] for n in names if n in body and body[n] is not None), None)


def _lookup(table: dict[str, Any], value: Any) -> Any:
    return table.get(value) if isinstance(value, str) else None


def _template_ids(value: Any) -> list[int | None]:
    items = value if isinstance(value, list) else [] if value in (None, "") else [value]
    return [rules.positive_id(v) for v in items]


def read_rule(request: HttpRequest, *, update: bool = False) -> rules.RuleDraft:
    """The body of ``POST /automations(/:id)`` as a contact rule draft. VipeCloud's order of
    problems is the draft's order of parts (the service reports them): what the item_type
    requires (here, first), the list or community, the custom field action, the templates, the
    trigger, then this product's checks of delays, windows and schedules. An update without a
    trigger_type keeps the automation's own."""
    body = request.json()
    if not isinstance(body, dict):
        raise _fail("The request body must be a JSON object.")
    kind, source_id, action_kind = _read_item(body)
    trigger = _reading(_read_trigger, body, kind, update)
    # the timing is read for the trigger given or, when an update keeps its own, for each it may be
    triggers = LIST_TRIGGERS.values() if trigger is None else [trigger] if isinstance(trigger, Trigger) else []
    return rules.RuleDraft(kind, source_id, action=_reading(_read_action, body, action_kind), trigger=trigger,
                           timings={t: _reading(_read_timing, body, t) for t in triggers})


def _reading(read: Callable[..., T], *args: Any) -> T | ValidationFailed:
    """What ``read`` reads, or why it cannot: the service reports it in its turn."""
    try:
        return read(*args)
    except ValidationFailed as e:
        return e


def _read_item(body: dict[str, Any]) -> tuple[GroupKind, int, ActionKind]:
    item_type = body.get("item_type")
    action_kind = _lookup(TEMPLATE_TYPES, body.get("template_type"))
    if item_type in (None, "", "contact_list"):
        list_id = rules.positive_id(body.get("contact_list_id"))
        template_given = (action_kind not in rules.SENDS or rules.positive_id(body.get("template_id"))) and (
            action_kind not in rules.CANCELS or _template_ids(_first(body, "template_ids", "cancel_template_ids")))
        if list_id is None or action_kind is None or not template_given:
            raise _fail(CONTACT_LIST_REQUIRED)
        return GroupKind.LIST, list_id, action_kind
    if item_type == "suite_party":
        suite_id = rules.positive_id(body.get("suite_party_id"))
        if suite_id is None or action_kind is None:
            raise _fail(SUITE_PARTY_REQUIRED)
        return GroupKind.COMMUNITY, suite_id, action_kind
    shown = item_type if isinstance(item_type, str) else json.dumps(item_type)
    raise _fail(f"Unsupported item_type '{shown}'.")


def _read_action(body: dict[str, Any], kind: ActionKind) -> RuleAction:
    if kind == ActionKind.SET_CUSTOM_FIELD:
        field_id = rules.positive_id(body.get("action_custom_field_id"))
        value = body.get("action_custom_field_value", _MISSING)
        if field_id is None or value in (_MISSING, None, "", []):
            raise _fail(CUSTOM_FIELD_REQUIRED)
        return RuleAction(kind, custom_field_id=field_id, value=value)
    if kind in rules.SENDS:
        return RuleAction(kind, template_id=rules.positive_id(body.get("template_id")))
    template_ids = list(dict.fromkeys(_template_ids(_first(body, "template_ids", "cancel_template_ids"))))
    if len(template_ids) > rules.MAX_TEMPLATE_IDS:
        raise _fail(f"template_ids may list at most {rules.MAX_TEMPLATE_IDS} templates.")
    return RuleAction(kind, template_ids=tuple(template_ids))


def _read_trigger(body: dict[str, Any], kind: GroupKind, update: bool) -> Trigger | None:
    """suite_party automations are always suite_party_joined. On update a missing trigger_type
    is None: keep the automation's own (when it is a contact list trigger)."""
    if kind == GroupKind.COMMUNITY:
        return Trigger.COMMUNITY_JOINED
    given = _first(body, "trigger_type", "trigger")
    trigger = _lookup(LIST_TRIGGERS, given)
    if trigger is None and not (given is None and update):
        raise _fail(UPDATE_FAILED if update else CREATE_FAILED)
    return trigger


def _read_timing(body: dict[str, Any], trigger: Trigger) -> rules.Timing:
    delay = rules.read_delay(body.get("delay_days"), body.get("delay_hours"), body.get("delay_min"),
                             ("delay_days", "delay_hours", "delay_min"))
    if trigger in (Trigger.LIST_JOINED, Trigger.COMMUNITY_JOINED) and rules.flag(body.get("contact_trigger_hours")):
        start, end = (rules.read_clock_time(body.get(f"contact_trigger_{edge}_hour"),
                                            body.get(f"contact_trigger_{edge}_min"),
                                            body.get(f"contact_trigger_{edge}_ampm"),
                                            tuple(f"contact_trigger_{edge}_{part}" for part in ("hour", "min", "ampm")))
                      for edge in ("from", "to"))
        return rules.Timing(delay, window=rules.read_window(start, end))
    if trigger == Trigger.RECURRING:
        return rules.Timing(delay, recurrence=_read_recurrence(body))
    if trigger == Trigger.DATE_FIELD:
        return rules.Timing(delay, date_field=_read_date_field(body))
    return rules.Timing(delay)


def _read_time(body: dict[str, Any], prefix: str = "") -> rules.ClockTime:
    names = ("hour", "min", "ampm")
    values = [_first(body, name, f"{prefix}{name}") if prefix else body.get(name) for name in names]
    return rules.read_clock_time(*values, names)


def _read_recurrence(body: dict[str, Any]) -> rules.Recurrence:
    day = _first(body, "day", "recurring_day")
    if day is None or any(_first(body, n, f"recurring_{n}") is None for n in ("hour", "min", "ampm")):
        raise _fail("A recurring trigger requires day, hour, min and ampm.")
    return rules.read_recurrence(rules.read_day(day), _read_time(body, "recurring_"),
                                 rules.flag(_first(body, "weekday_only", "recurring_weekday_only")))


def _read_date_field(body: dict[str, Any]) -> rules.DateFieldTrigger:
    field_id = rules.positive_id(body.get("custom_field_id"))
    if field_id is None or any(body.get(n) is None for n in ("hour", "min", "ampm")):
        raise _fail("A custom_field trigger requires custom_field_id, hour, min and ampm.")
    return rules.DateFieldTrigger(field_id, _read_time(body))


# -- responses -------------------------------------------------------------------------------------
def _value_text(value: Any) -> Any:
    """Custom field values as VipeCloud shows them: checkboxes "true"/"false", numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _clock(prefix: str, at: rules.ClockTime) -> dict[str, Any]:
    hour, minute, ampm = at.to_12h()
    return {f"{prefix}hour": hour, f"{prefix}min": minute, f"{prefix}ampm": ampm}


def schedule_data(rule: ContactRule) -> str | None:
    """VipeCloud's JSON-encoded schedule: window, suite, recurring and date-field details (ids
    as strings, as VipeCloud writes them); null when there is nothing to say."""
    data: dict[str, Any] = {}
    if rule.source_kind == GroupKind.COMMUNITY:
        data["suite_party_id"] = str(rule.source_id)
        data["contact_trigger_hours"] = 1 if rule.window else 0
    elif rule.window:
        data["contact_trigger_hours"] = 1
    if rule.window:
        data.update(_clock("contact_trigger_from_", rule.window.start), **_clock("contact_trigger_to_", rule.window.end))
    if rule.recurrence:
        data.update({"day": rule.recurrence.day, **_clock("", rule.recurrence.at)})
    if rule.date_field:
        data.update({"custom_field_id": str(rule.date_field.custom_field_id), **_clock("", rule.date_field.at)})
    return json.dumps(data, separators=(",", ":")) if data else None


def automation_json(automation: Automation, refs: RuleReferences) -> dict[str, Any]:
    """One automation, keys in the order of VipeCloud's samples."""
    rule = ContactRule.from_automation(automation)
    action, group = rule.action, refs.group
    out: dict[str, Any] = {"id": automation.id}
    if rule.source_kind == GroupKind.LIST:
        out.update(contact_list_id=rule.source_id, contact_list_name=group.name if group else None)
    else:
        out["contact_list_id"] = 0
    out["template_type"] = TEMPLATE_TYPE_NAMES[action.kind]
    if action.kind in rules.SENDS:
        template = refs.templates[0] if refs.templates else None
        out.update(template_id=action.template_id, template_title=template.title if template else None)
    elif action.kind == ActionKind.SET_CUSTOM_FIELD:
        out["template_id"] = action.custom_field_id
    else:
        out.update(template_id=0, template_ids=list(action.template_ids))
    out.update(trigger=TRIGGER_NAMES[automation.trigger], delay_days=rule.delay.days, delay_hours=rule.delay.hours,
               delay_min=rule.delay.minutes, schedule_data=schedule_data(rule),
               weekday_only="on" if rule.recurrence and rule.recurrence.weekday_only else None,
               item_type=ITEM_TYPES[rule.source_kind])
    if rule.source_kind == GroupKind.COMMUNITY:
        out.update(suite_name=group.name if group else None, suite_type=group.suite_type if group else None)
    if action.kind == ActionKind.SET_CUSTOM_FIELD:
        field = refs.custom_field
        out["automation_data"] = {"custom_field_value": _value_text(action.value),
                                  "field_type": field.type.value.capitalize() if field else None}
    return out


def automation_response(service: ContactAutomationService, automation: Automation) -> dict[str, Any]:
    refs = service.references(automation.account_id, [automation])
    return json_response(200, automation_json(automation, refs[automation.id]))


def automations_response(service: ContactAutomationService, automations: list[Automation]) -> dict[str, Any]:
    """A bare JSON array, as VipeCloud answers (no envelope, no pagination)."""
    if not automations:
        return json_response(200, [])
    refs = service.references(automations[0].account_id, automations)
    return json_response(200, [automation_json(a, refs[a.id]) for a in automations])
