"""The contact side of the domain: contacts, groups (contact lists and communities), custom
fields and templates, with their pure validation. No I/O here: checks that need the account's
other records (does this template exist?) live in service/contacts.py."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import available_timezones

from automations.errors import Problems
from automations.domain.person import MAX_NAME, normalize_email, required_name
from automations.inputs import MAX_SAFE_INTEGER, is_storable_number

MAX_TEXT_VALUE = 10_000
# A template is stored as one item, and DynamoDB items stop at 400 KB.
MAX_SUBJECT = 998  # RFC 5322's line limit
MAX_BODY = 100_000
MAX_SERIES_STEPS = 50
MAX_OPTIONS = 200
MAX_DELAY_DAYS = 365  # series steps and automation delays alike

_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# -- contacts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Contact:
    account_id: str
    uuid: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    custom_fields: dict[str, Any]  # str(custom field id) -> value, checked against the field's type
    created_at: datetime
    updated_at: datetime
    version: int = 1


CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "timezone", "custom_fields")


def is_uuid(text: str) -> bool:
    """A contact uuid as this product writes it (lower-case, hyphenated)."""
    return isinstance(text, str) and bool(_UUID.match(text))


def normalize_phone(text: str) -> str | None:
    """E.164 (``+`` and 8-15 digits, no leading 0), or None. Spaces, dots, dashes, slashes and
    brackets are ignored; a number without ``+`` must already start with its country code
    (there is no default country: guessing one silently texts the wrong person)."""
    digits = _PHONE_PUNCTUATION.sub("", text.strip())
    digits = digits.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15 or digits[0] == "0":
        return None
    return "+" + digits


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: Any) -> bool:
    return isinstance(name, str) and name in _zones()


def _optional_text(value: Any, label: str, problems: Problems, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        problems.add(field_name, f"{label}: must be text of at most {MAX_NAME} characters")
        return None
    return value.strip() or None


def check_contact(values: dict[str, Any], fields: dict[str, CustomField], problems: Problems) -> dict[str, Any]:
    """Normalise the writable attributes of a contact (all of them: merge a patch first).
    ``fields`` are the account's custom fields by str(id)."""
    out: dict[str, Any] = {}
    email = values.get("email")
    if email is not None:
        out["email"] = normalize_email(email) if isinstance(email, str) else None
        if out["email"] is None:
            problems.add("email", "Email: is not a valid email address")
    else:
        out["email"] = None
    phone = values.get("phone")
    if phone is not None:
        out["phone"] = normalize_phone(phone) if isinstance(phone, str) else None
        if out["phone"] is None:
            problems.add("phone", "Phone: must be an international number: optional +, then 8 to 15 digits "
                                  "starting with the country code")
    else:
        out["phone"] = None
    if email is None and phone is None:
        problems.add("base", "A contact needs an email address or a phone number")
    out["first_name"] = _optional_text(values.get("first_name"), "First name", problems, "first_name")
    out["last_name"] = _optional_text(values.get("last_name"), "Last name", problems, "last_name")
    zone = values.get("timezone")
    if zone is not None and not is_timezone(zone):
        problems.add("timezone", f"Timezone: {zone!r} is not an IANA time zone name such as Europe/Amsterdam")
    out["timezone"] = zone
    out["custom_fields"] = check_field_values(values.get("custom_fields") or {}, fields, problems)
    return out


def check_field_values(raw: Any, fields: dict[str, CustomField], problems: Problems) -> dict[str, Any]:
    """Normalised values by str(field id); None marks a value to clear."""
    if not isinstance(raw, dict):
        problems.add("custom_fields", "Custom fields: must be an object of {field id: value}")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        definition = fields.get(str(key))
        where = f"custom_fields.{key}"
        if value is None:
            out[str(key)] = None  # clears the value, even of a field deleted since
        elif definition is None:
            problems.add(where, f"Custom field {key}: no such custom field")
        elif definition.scope != FieldScope.CONTACT:
            problems.add(where, f"Custom field {key}: is not a contact field")
        else:
            normalized, reason = definition.check_value(value)
            if reason:
                problems.add(where, f"Custom field {key}: {reason}")
            else:
                out[str(key)] = normalized
    return out


# -- groups: contact lists and communities ----------------------------------------------------
class GroupKind(StrEnum):
    """Contact lists and communities ("suites/parties") behave alike: named, integer ids,
    members, and a join event when a contact joins."""

    LIST = "list"
    COMMUNITY = "community"


SUITE_TYPES = ("suite", "community", "party")


@dataclass(frozen=True)
class Group:
    account_id: str
    kind: GroupKind
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    suite_type: str | None = None  # communities only
    version: int = 1


@dataclass(frozen=True)
class Membership:
    account_id: str
    kind: GroupKind
    group_id: int
    contact_uuid: str
    joined_at: datetime


def check_group(kind: GroupKind, name: Any, suite_type: Any, problems: Problems) -> tuple[str, str | None]:
    clean = required_name(name, "Name", problems)
    if kind == GroupKind.COMMUNITY:
        if suite_type not in SUITE_TYPES:
            problems.add("suite_type", f"Suite type: must be one of {', '.join(SUITE_TYPES)}")
        return clean, suite_type
    return clean, None


# -- custom fields -----------------------------------------------------------------------------
class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHECKBOX = "checkbox"
    DROPDOWN = "dropdown"


class FieldScope(StrEnum):
    CONTACT = "contact"
    OTHER = "other"


@dataclass(frozen=True)
class CustomField:
    account_id: str
    id: int
    name: str
    scope: FieldScope
    type: FieldType
    created_at: datetime
    updated_at: datetime
    options: tuple[str, ...] = ()
    version: int = 1

    def check_value(self, value: Any) -> tuple[Any, str | None]:
        """(normalised value, None) or (None, why it does not fit this field)."""
        return _VALUE_CHECKS[self.type](self, value)


def _text_value(f: CustomField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and len(value) <= MAX_TEXT_VALUE:
        return value, None
    return None, f"must be text of at most {MAX_TEXT_VALUE} characters"


def _number_value(f: CustomField, value: Any) -> tuple[Any, str | None]:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not is_storable_number(number):
        return None, "must be a number"
    if isinstance(number, float) and number.is_integer() and abs(number) <= MAX_SAFE_INTEGER:
        number = int(number)
    return number, None


def _date_value(f: CustomField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and _DATE.match(value):
        try:
            date.fromisoformat(value)
            return value, None
        except ValueError:
            pass
    return None, "must be a date written YYYY-MM-DD"


def _checkbox_value(f: CustomField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    if value in ("true", "false"):
        return value == "true", None
    return None, "must be true or false"


def _dropdown_value(f: CustomField, value: Any) -> tuple[Any, str | None]:
    """One option, or a list of options (a multi-select picklist)."""
    chosen = value if isinstance(value, list) else [value]
    if chosen and all(isinstance(v, str) and v in f.options for v in chosen):
        return (list(dict.fromkeys(chosen)) if isinstance(value, list) else value), None
    return None, "must be one of the field's options"


_VALUE_CHECKS = {FieldType.TEXT: _text_value, FieldType.NUMBER: _number_value, FieldType.DATE: _date_value,
                 FieldType.CHECKBOX: _checkbox_value, FieldType.DROPDOWN: _dropdown_value}


def check_custom_field(name: Any, scope: Any, type_: Any, options: Any, problems: Problems) -> tuple[str, tuple[str, ...]]:
    clean = required_name(name, "Name", problems)
    if scope not in tuple(FieldScope):
        problems.add("scope", "Scope: must be contact or other")
    if type_ not in tuple(FieldType):
        problems.add("type", f"Type: must be one of {', '.join(FieldType)}")
        return clean, ()
    if type_ != FieldType.DROPDOWN:
        if options:
            problems.add("options", "Options: only dropdown fields have options")
        return clean, ()
    if not isinstance(options, (list, tuple)) or not options:
        problems.add("options", "Options: a dropdown field needs at least one option")
        return clean, ()
    if len(options) > MAX_OPTIONS or not all(isinstance(o, str) and o.strip() and len(o) <= MAX_NAME for o in options):
        problems.add("options", f"Options: at most {MAX_OPTIONS} non-blank texts of at most {MAX_NAME} characters")
        return clean, ()
    if len(set(options)) != len(options):
        problems.add("options", "Options: must be unique")
    return clean, tuple(options)


# -- templates ---------------------------------------------------------------------------------
class TemplateType(StrEnum):
    EMAIL = "email"
    TEXT = "text"
    SERIES = "series"


@dataclass(frozen=True)
class SeriesStep:
    """One email of a series, ``delay_days`` after the previous step (the first: after the
    series starts). Without a send time it goes at 10:00 (VipeCloud's default)."""

    template_id: int
    delay_days: int = 0
    hour: int | None = None  # 1-12
    min: int | None = None  # 0-59
    ampm: str | None = None  # am | pm
    weekdays_only: bool = False


@dataclass(frozen=True)
class Template:
    account_id: str
    id: int
    title: str
    type: TemplateType
    created_at: datetime
    updated_at: datetime
    subject: str | None = None  # email
    html: str | None = None  # email: html and/or text body
    text: str | None = None
    body: str | None = None  # text (SMS)
    steps: tuple[SeriesStep, ...] = ()  # series
    version: int = 1

    def liquid_sources(self) -> dict[str, str]:
        """The attributes that are Liquid templates, by name."""
        return {k: v for k, v in (("subject", self.subject), ("html", self.html), ("text", self.text),
                                  ("body", self.body)) if v is not None}


TEMPLATE_ATTRIBUTES = {
    TemplateType.EMAIL: ("subject", "html", "text"),
    TemplateType.TEXT: ("body",),
    TemplateType.SERIES: ("steps",),
}


def check_template(t: Template, problems: Problems) -> None:
    """Everything but Liquid syntax and the existence of step templates (service checks)."""
    required_name(t.title, "Title", problems, "title")
    for name in ("subject", "html", "text", "body"):
        value = getattr(t, name)
        if value is not None and name not in TEMPLATE_ATTRIBUTES[t.type]:
            problems.add(name, f"{name.capitalize()}: {t.type} templates have no {name}")
        limit = MAX_SUBJECT if name == "subject" else MAX_BODY
        if isinstance(value, str) and len(value) > limit:
            problems.add(name, f"{name.capitalize()}: must be at most {limit} characters")
    if t.steps and t.type != TemplateType.SERIES:
        problems.add("steps", f"Steps: {t.type} templates have no steps")
    if t.type == TemplateType.EMAIL:
        if not (t.subject or "").strip():
            problems.add("subject", "Subject: cannot be blank")
        if not (t.html or "").strip() and not (t.text or "").strip():
            problems.add("base", "An email template needs an html body, a text body or both")
    elif t.type == TemplateType.TEXT:
        if not (t.body or "").strip():
            problems.add("body", "Body: cannot be blank")
    else:
        if not t.steps:
            problems.add("steps", "Steps: a series needs at least one step")
        if len(t.steps) > MAX_SERIES_STEPS:
            problems.add("steps", f"Steps: at most {MAX_SERIES_STEPS}")
        for index, step in enumerate(t.steps):
            _check_step(index, step, problems)


def _check_step(index: int, step: SeriesStep, problems: Problems) -> None:
    where = f"steps.{index}"
    if not 0 <= step.delay_days <= MAX_DELAY_DAYS:
        problems.add(f"{where}.delay_days", f"Step {index + 1}: delay_days must be from 0 to {MAX_DELAY_DAYS}")
    timed = (step.hour, step.min, step.ampm)
    if any(v is not None for v in timed) and any(v is None for v in timed):
        problems.add(where, f"Step {index + 1}: give hour, min and ampm together, or none of them")
        return
    if step.hour is not None and not 1 <= step.hour <= 12:
        problems.add(f"{where}.hour", f"Step {index + 1}: hour must be from 1 to 12")
    if step.min is not None and not 0 <= step.min <= 59:
        problems.add(f"{where}.min", f"Step {index + 1}: min must be from 0 to 59")
    if step.ampm is not None and step.ampm not in ("am", "pm"):
        problems.add(f"{where}.ampm", f"Step {index + 1}: ampm must be am or pm")


@dataclass(frozen=True)
class MembersAdded:
    """The outcome of a bulk add: unknown contacts are reported, not fatal."""

    added: list[str] = field(default_factory=list)
    already_members: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
