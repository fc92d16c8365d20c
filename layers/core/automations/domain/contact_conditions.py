"""Conditions over a contact (event and manual automations): ``all`` must hold, and ``any`` is
empty or one of it holds. Pure.

Fields: the contact's ``email``, ``phone``, ``first_name``, ``last_name``, ``timezone``; its
``custom_fields.<id>``; and ``data.<key>`` (the event's or run's data; ``data.order.total`` reads
into nested objects, ``data.items.0`` into lists).

Semantics (the choices made; docs/native-api.md repeats them):
- A value that is missing, null, "" or an empty list is not present. Nothing missing is equal
  to, contains, or is greater or less than anything; ``is_not`` and ``not_contains`` hold for it.
- ``is``/``is_not`` compare numbers by value (5 is "5.0"), ISO dates and date-times as instants
  (a date is its midnight UTC), and other text ignoring case; true/false match checkboxes. A list
  (a multi-select dropdown) ``is`` a value when one of its items is.
- ``contains``/``not_contains``: a substring of text (ignoring case), or an item of a list.
- ``greater_than``/``less_than``: numbers, or ISO dates and date-times; the condition's value
  must be one of those, and a field value that is not of the same kind holds neither."""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

from automations.domain.contacts import Contact
from automations.domain.model import Condition, Conditions
from automations.inputs import MAX_ID, parse_whole
from automations.errors import Problems

CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "timezone")
CUSTOM_FIELD_PREFIX = "custom_fields."
DATA_PREFIX = "data."
OPERATORS = ("is", "is_not", "present", "not_present", "contains", "not_contains", "greater_than", "less_than")
ORDERING = ("greater_than", "less_than")
PRESENCE = ("present", "not_present")
MAX_CONDITIONS = 50  # per group
MAX_FIELD = 200

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_CUSTOM_FIELD_ID = re.compile(r"[1-9][0-9]{0,11}")
_DATA_KEY = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")
_MISSING = object()


# -- reading values ------------------------------------------------------------------------------
def custom_field_id(field_name: str) -> int | None:
    """The id in ``custom_fields.<id>``, or None for any other field."""
    rest = field_name.removeprefix(CUSTOM_FIELD_PREFIX)
    return int(rest) if rest != field_name and _CUSTOM_FIELD_ID.fullmatch(rest) else None


def _read(field_name: str, contact: Contact, data: Any) -> Any:
    if field_name in CONTACT_FIELDS:
        return getattr(contact, field_name)
    if field_name.startswith(CUSTOM_FIELD_PREFIX):
        return contact.custom_fields.get(field_name.removeprefix(CUSTOM_FIELD_PREFIX))
    value = data
    for key in field_name.removeprefix(DATA_PREFIX).split("."):
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list) and (index := parse_whole(key, MAX_ID)) is not None and index < len(value):
            value = value[index]
        else:
            return None
    return None if value is _MISSING else value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer past a float's range: beyond every bound a rule can name
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    return None


def _instant(value: Any) -> datetime | None:
    """An ISO date (its midnight UTC) or date-time (UTC when it has no offset)."""
    if not isinstance(value, str) or not value[:4].isdigit() or len(value) < 10:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text) if len(text) > 10 else datetime.combine(
            date.fromisoformat(text), datetime.min.time())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    for read in (_number, _instant):
        a, e = read(actual), read(expected)
        if a is not None and e is not None:
            return a == e
    return _text(actual) == _text(expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    return _text(expected) in _text(actual)


def _ordered(actual: Any, expected: Any) -> int | None:
    """-1, 0 or 1 comparing ``actual`` with ``expected``; None when they are not both numbers
    or both instants."""
    for read in (_number, _instant):
        a, e = read(actual), read(expected)
        if a is not None and e is not None:
            return (a > e) - (a < e)
    return None


def _holds(condition: Condition, contact: Contact, data: Any) -> bool:
    actual = _read(condition.field, contact, data)
    op, expected = condition.operator, condition.value
    if op in PRESENCE:
        return _present(actual) == (op == "present")
    if not _present(actual):
        return op in ("is_not", "not_contains")
    tests: dict[str, Callable[[], bool]] = {
        "is": lambda: _equal(actual, expected),
        "is_not": lambda: not _equal(actual, expected),
        "contains": lambda: _contains(actual, expected),
        "not_contains": lambda: not _contains(actual, expected),
        "greater_than": lambda: _ordered(actual, expected) == 1,
        "less_than": lambda: _ordered(actual, expected) == -1,
    }
    return tests[op]()


def matches(conditions: Conditions, contact: Contact, data: Any) -> bool:
    """All of ``all`` hold, and ``any`` is empty or one of it holds."""
    if not all(_holds(c, contact, data) for c in conditions.all):
        return False
    return not conditions.any or any(_holds(c, contact, data) for c in conditions.any)


# -- checking a definition -----------------------------------------------------------------------
def _field_problem(field_name: Any) -> str | None:
    if not isinstance(field_name, str) or not field_name or len(field_name) > MAX_FIELD:
        return f"the field must be a name of at most {MAX_FIELD} characters"
    if field_name in CONTACT_FIELDS or custom_field_id(field_name) is not None:
        return None
    if field_name.startswith(DATA_PREFIX) and _DATA_KEY.fullmatch(field_name.removeprefix(DATA_PREFIX)):
        return None
    return (f'unknown field "{field_name}": use one of {", ".join(CONTACT_FIELDS)}, custom_fields.<id> '
            "(a custom field's id) or data.<key> (the event's or run's data)")


def _value_problem(operator: str, value: Any) -> str | None:
    if operator in PRESENCE:
        return None
    if operator in ORDERING:
        if _number(value) is None and _instant(value) is None:
            return f'{operator} needs a number or an ISO date (2026-01-31) or date-time as its value'
        return None
    if value is None or isinstance(value, (dict, list)) or value == "":
        return f"{operator} needs a text, number or true/false value"
    return None


def check_conditions(conditions: Conditions, problems: Problems) -> None:
    """What is wrong with ``conditions``, each problem under ``conditions.<group>.<index>``."""
    for group, items in (("all", conditions.all), ("any", conditions.any)):
        if len(items) > MAX_CONDITIONS:
            problems.add(f"conditions.{group}", f'Conditions: at most {MAX_CONDITIONS} in "{group}"')
            continue
        for index, c in enumerate(items):
            where = f"conditions.{group}.{index}"
            reason = _field_problem(c.field)
            if reason is None and c.operator not in OPERATORS:
                reason = f'unknown operator "{c.operator}": use one of {", ".join(OPERATORS)}'
            if reason is None:
                reason = _value_problem(c.operator, c.value)
            if reason:
                problems.add(where, f"Condition {index + 1} of {group}: {reason}")
