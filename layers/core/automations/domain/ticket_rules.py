"""The vocabulary of ticket (sweep) automations: condition fields, operators, values and actions,
with Zendesk's rules for what a valid time-based automation is."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from automations.domain.model import Action, Automation, Condition
from automations.domain.ticket import PRIORITIES, SATISFACTION, STATUSES, TICKET_TYPES
from automations.errors import Problems
from automations.inputs import MAX_ID, MAX_INT32, parse_whole

TIME_FIELDS = (
    "NEW", "OPEN", "PENDING", "HOLD", "SOLVED", "CLOSED", "assigned_at", "updated_at",
    "requester_updated_at", "assignee_updated_at", "due_date", "until_due_date",
    "sla_next_breach_at", "until_sla_next_breach_at",
)
TIME_OPERATORS = (
    "is", "less_than", "greater_than",
    "is_business_hours", "less_than_business_hours", "greater_than_business_hours",
)

MAX_ACTIVE_AUTOMATIONS = 500
MAX_RULE_BYTES = 65 * 1024

ORDERED = ("is", "is_not", "less_than", "greater_than")
EQUALITY = ("is", "is_not")
TAG_OPERATORS = ("includes", "not_includes")
CUSTOM_FIELD_OPERATORS = ("is", "is_not", "present", "not_present", "includes", "not_includes",
                          "less_than", "greater_than")

_CUSTOM_FIELD = re.compile(r"^custom_fields_[0-9]{1,15}$")


def _text(value: Any) -> str | None:
    """Zendesk takes condition and action values as strings; numbers are accepted and stringified."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        return str(value)
    return None


def _one_of(choices: Iterable[str]) -> Callable[[str], str | None]:
    choices = tuple(choices)

    def check(value: str) -> str | None:
        if value not in choices:
            listed = ", ".join(f'"{c}"' for c in choices)
            return f"must be one of {listed}"
        return None

    return check


def _whole_hours(value: str) -> str | None:
    return None if parse_whole(value, MAX_INT32) is not None else \
        f"must be a whole, non-negative number of hours (at most {MAX_INT32})"


def is_id(value: str) -> bool:
    """Ids in rules are strings of ASCII digits (Zendesk's), at most MAX_ID."""
    return parse_whole(value, MAX_ID) is not None


def _id_or_none(value: str) -> str | None:
    return None if value == "" or is_id(value) else 'must be a numeric id or "" (none)'


def _numeric_id(value: str) -> str | None:
    return None if is_id(value) else "must be a numeric id"


def _free_text(value: str) -> str | None:
    return None


def _tags(value: str) -> str | None:
    return None if value.strip() else "must list at least one tag"


# field -> (operators, value check)
CONDITION_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[str], str | None]]] = {
    **{f: (TIME_OPERATORS, _whole_hours) for f in TIME_FIELDS},
    "status": (ORDERED, _one_of(STATUSES)),
    "priority": (ORDERED, _one_of(PRIORITIES)),
    "type": (EQUALITY, _one_of(TICKET_TYPES)),
    "group_id": (EQUALITY, _id_or_none),
    "assignee_id": (EQUALITY, _id_or_none),
    "requester_id": (EQUALITY, _id_or_none),
    "organization_id": (EQUALITY, _id_or_none),
    "current_tags": (TAG_OPERATORS, _tags),
    "via_id": (EQUALITY, _numeric_id),
    "recipient": (EQUALITY, _free_text),
    "satisfaction_score": (ORDERED, _one_of(SATISFACTION)),
    "brand_id": (EQUALITY, _numeric_id),
    "ticket_form_id": (EQUALITY, _numeric_id),
    "custom_status_id": (EQUALITY, _numeric_id),
    "locale_id": (EQUALITY, _numeric_id),
    "description_includes_word": (TAG_OPERATORS, _tags),
}

ACTION_STATUSES = ("open", "pending", "hold", "solved", "closed")

# field -> value check for actions whose value is a single string
SCALAR_ACTIONS: dict[str, Callable[[str], str | None]] = {
    "status": _one_of(ACTION_STATUSES),
    "type": _one_of(TICKET_TYPES[1:]),
    "priority": _one_of(PRIORITIES[1:]),
    "group_id": _id_or_none,
    "assignee_id": _id_or_none,
    "set_tags": _free_text,
    "current_tags": _tags,
    "remove_tags": _tags,
    "custom_status_id": _numeric_id,
    "ticket_form_id": _numeric_id,
    "satisfaction_score": _one_of(("offered",)),
}
NOTIFICATION_RECIPIENTS = ("requester_id", "assignee_id", "current_user", "requester_and_ccs")

# field -> (number of list items, names of the items)
NOTIFICATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "notification_user": ("recipient", "subject", "body"),
    "notification_group": ("group_id", "subject", "body"),
    "notification_target": ("target_id", "body"),
    "notification_webhook": ("webhook_id", "body"),
}


def is_time_based(condition: Condition) -> bool:
    return condition.field in TIME_FIELDS


def condition_spec(field_name: str) -> tuple[tuple[str, ...], Callable[[str], str | None]] | None:
    if _CUSTOM_FIELD.match(field_name):
        return CUSTOM_FIELD_OPERATORS, _free_text
    return CONDITION_FIELDS.get(field_name)


def normalize_condition(raw: Condition) -> Condition:
    """Condition values are kept as strings, as Zendesk returns them."""
    text = _text(raw.value)
    return Condition(raw.field, raw.operator, text if text is not None else raw.value)


def normalize_action(raw: Action) -> Action:
    if isinstance(raw.value, list):
        return Action(raw.field, [_text(v) if _text(v) is not None else v for v in raw.value])
    text = _text(raw.value)
    return Action(raw.field, text if text is not None else raw.value)


def _check_condition(where: str, c: Condition, problems: Problems) -> None:
    spec = condition_spec(c.field) if isinstance(c.field, str) else None
    if spec is None:
        problems.add("base", f'Conditions: unknown field "{c.field}" in "{where}"')
        return
    operators, check_value = spec
    if c.operator not in operators:
        allowed = ", ".join(operators)
        problems.add("base", f'Conditions: operator "{c.operator}" is not valid for field "{c.field}" '
                             f"(use one of: {allowed})")
        return
    if c.operator not in ("present", "not_present"):
        _check_value("Conditions", c.field, c.value, check_value, problems)


def _check_action(a: Action, problems: Problems) -> None:
    if not isinstance(a.field, str):
        problems.add("base", "Actions: each action needs a field name")
        return
    if a.field in NOTIFICATION_ACTIONS:
        parts = NOTIFICATION_ACTIONS[a.field]
        if (not isinstance(a.value, list) or len(a.value) != len(parts)
                or not all(isinstance(v, str) for v in a.value)):
            problems.add("base", f'Actions: "{a.field}" takes a list of {len(parts)} strings '
                                 f"[{', '.join(parts)}]")
            return
        target = a.value[0]
        if a.field == "notification_user" and target not in NOTIFICATION_RECIPIENTS and not is_id(target):
            problems.add("base", f'Actions: recipient "{target}" of "notification_user" must be a user id '
                                 f"or one of {', '.join(NOTIFICATION_RECIPIENTS)}")
        elif a.field != "notification_user" and not is_id(target) and a.field != "notification_webhook":
            problems.add("base", f'Actions: "{a.field}" needs a numeric {parts[0]}')
        elif a.field == "notification_webhook" and not target:
            problems.add("base", 'Actions: "notification_webhook" needs a webhook id')
        return
    check = SCALAR_ACTIONS.get(a.field) or (_free_text if _CUSTOM_FIELD.match(a.field) else None)
    if check is None:
        problems.add("base", f'Actions: unknown field "{a.field}"')
        return
    _check_value("Actions", a.field, a.value, check, problems)


def _check_value(part: str, field: str, value: Any, check: Callable[[str], str | None], problems: Problems) -> None:
    """A condition's or action's value: a string that ``check`` finds nothing wrong with."""
    if not isinstance(value, str):
        problems.add("base", f'{part}: value for field "{field}" must be a string')
        return
    reason = check(value)
    if reason:
        problems.add("base", f'{part}: value "{value}" for field "{field}" {reason}')


def validate_sweep_rule(automation: Automation, problems: Problems) -> None:
    """Zendesk's rules for a time-based automation (everything but uniqueness and the cap,
    which need the account's other automations). Zendesk's documented "one condition on status,
    type, group, assignee or requester" is not among them: real Zendesk does not enforce it."""
    if not isinstance(automation.title, str):
        problems.add("title", "Title: must be a string")
    elif not automation.title.strip():
        problems.add("title", "Title: cannot be blank")
    if not automation.actions:
        problems.add("base", "Actions: an automation needs at least one action")
    for c in automation.conditions.all:
        _check_condition("all", c, problems)
    for c in automation.conditions.any:
        if isinstance(c.field, str) and c.field in TIME_FIELDS:
            problems.add("base", f'Conditions: time-based condition "{c.field}" is only allowed in "all", not in "any"')
        else:
            _check_condition("any", c, problems)
    if not any(is_time_based(c) for c in automation.conditions.all):
        problems.add("base", 'Conditions: "all" must contain at least one time-based condition '
                             f"({', '.join(TIME_FIELDS)})")
    for a in automation.actions:
        _check_action(a, problems)
    size = automation.rule_size()
    if size > MAX_RULE_BYTES:
        problems.add("base", f"Automation is too large ({size} bytes); a rule must be smaller than 65 KB")
