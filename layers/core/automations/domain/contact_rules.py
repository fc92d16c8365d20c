"""Contact automations: what fires them (a contact joins a list or a community, a recurring
schedule, a date held in a contact's custom field), when (delay, send window) and what they do
(send a template, start a series, set a custom field, cancel scheduled sends). Pure: the checks
that need the account's records (does list 12 exist?) are in service/contact_automations.py.

An automation's ``trigger_config`` holds the rule's schedule and source, one JSON shape for every
contact trigger (every key always present, so identical rules have identical fingerprints):

    {"source": {"kind": "list"|"community", "id": 12},
     "delay": {"days": 0, "hours": 1, "minutes": 0},
     "window": {"from": "09:00", "to": "17:00"} | null,
     "recurrence": {"day": "daily"|"monday".."sunday"|1..31, "at": "09:00", "weekday_only": false} | null,
     "date_field": {"custom_field_id": 7, "at": "09:00"} | null}

and its one action is ``Action(kind, {...})`` with a dict value (``{"template_id": 4}``,
``{"template_ids": [4, 5]}``, ``{"custom_field_id": 7, "value": "x"}``), which the ticket
normaliser leaves alone.

Times are wall-clock times in the account's timezone (VipeCloud's rule); the run engine turns
them into instants, so a window stays 09:00-17:00 across DST changes."""
from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from automations.domain.contacts import MAX_DELAY_DAYS, GroupKind, TemplateType
from automations.domain.model import Action, Automation, AutomationDraft, Conditions, SubjectKind, Trigger
from automations.errors import FieldError, Problems, ValidationFailed
from automations.inputs import MAX_SAFE_INTEGER, MAX_WHOLE, parse_whole

CONTACT_TRIGGERS = (Trigger.LIST_JOINED, Trigger.COMMUNITY_JOINED, Trigger.RECURRING, Trigger.DATE_FIELD)
# The rules a recurring schedule of their own fires (the others fire on joins and events).
SCHEDULED_TRIGGERS = (Trigger.RECURRING, Trigger.DATE_FIELD)
MAX_TEMPLATE_IDS = 100
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
WEEKEND = ("saturday", "sunday")
DAILY = "daily"
T = TypeVar("T")


class ActionKind(StrEnum):
    SEND_EMAIL = "send_email"
    SEND_TEXT = "send_text"
    START_SERIES = "start_series"
    SET_CUSTOM_FIELD = "set_custom_field"
    CANCEL_EMAIL = "cancel_email"
    CANCEL_TEXT = "cancel_text"
    CANCEL_SERIES = "cancel_series"


SENDS = (ActionKind.SEND_EMAIL, ActionKind.SEND_TEXT, ActionKind.START_SERIES)
CANCELS = (ActionKind.CANCEL_EMAIL, ActionKind.CANCEL_TEXT, ActionKind.CANCEL_SERIES)
# The template type each template-using action takes.
TEMPLATE_TYPE = {
    ActionKind.SEND_EMAIL: TemplateType.EMAIL, ActionKind.CANCEL_EMAIL: TemplateType.EMAIL,
    ActionKind.SEND_TEXT: TemplateType.TEXT, ActionKind.CANCEL_TEXT: TemplateType.TEXT,
    ActionKind.START_SERIES: TemplateType.SERIES, ActionKind.CANCEL_SERIES: TemplateType.SERIES,
}


def invalid(message: str, field_name: str = "base") -> ValidationFailed:
    return ValidationFailed([FieldError(field_name, message)])


# -- times of day ------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class ClockTime:
    minutes: int  # since midnight, 0-1439

    @classmethod
    def from_12h(cls, hour: int, minute: int, ampm: str) -> ClockTime:
        """12am is midnight, 12pm noon."""
        return cls((hour % 12 + (12 if ampm == "pm" else 0)) * 60 + minute)

    def to_12h(self) -> tuple[int, int, str]:
        hour, minute = divmod(self.minutes, 60)
        return (hour % 12 or 12), minute, ("pm" if hour >= 12 else "am")

    @property
    def text(self) -> str:
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"

    @classmethod
    def parse(cls, text: str) -> ClockTime:
        hour, _, minute = text.partition(":")
        value = cls(int(hour) * 60 + int(minute))
        if not 0 <= value.minutes < 24 * 60 or value.text != text:
            raise ValueError(f"not a time of day: {text!r}")
        return value


@dataclass(frozen=True)
class Delay:
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @property
    def total(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)

    def longer_than(self, days: int) -> bool:
        """In whole minutes, so absurd inputs (10**30 minutes) are merely too long, never an
        overflow."""
        return (self.days * 24 + self.hours) * 60 + self.minutes > days * 24 * 60


@dataclass(frozen=True)
class SendWindow:
    """Sends are held until the window opens. ``start`` after ``end`` is a window across
    midnight (22:00-06:00)."""

    start: ClockTime
    end: ClockTime

    def admits(self, at: ClockTime) -> bool:
        if self.start < self.end:
            return self.start <= at < self.end
        return at >= self.start or at < self.end


@dataclass(frozen=True)
class Recurrence:
    """``day``: "daily", a weekday name (weekly) or 1-31 (monthly; 29-31 mean the last day of
    shorter months). ``weekday_only`` skips occurrences on Saturdays and Sundays."""

    day: str | int
    at: ClockTime
    weekday_only: bool = False

    def occurs_on(self, local_day: date) -> bool:
        weekday = WEEKDAYS[(local_day.weekday() + 1) % 7]
        if self.weekday_only and weekday in WEEKEND:
            return False
        if self.day == DAILY:
            return True
        if isinstance(self.day, str):
            return weekday == self.day
        last = calendar.monthrange(local_day.year, local_day.month)[1]
        return local_day.day == min(self.day, last)


@dataclass(frozen=True)
class DateFieldTrigger:
    """Fires on the date held in a contact's date custom field, at ``at``."""

    custom_field_id: int
    at: ClockTime


# -- the rule ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleAction:
    kind: ActionKind
    template_id: int | None = None  # sends
    template_ids: tuple[int, ...] = ()  # cancels
    custom_field_id: int | None = None  # set_custom_field
    value: Any = None  # set_custom_field, normalised for the field's type

    def to_action(self) -> Action:
        if self.kind in SENDS:
            return Action(self.kind.value, {"template_id": self.template_id})
        if self.kind in CANCELS:
            return Action(self.kind.value, {"template_ids": list(self.template_ids)})
        return Action(self.kind.value, {"custom_field_id": self.custom_field_id, "value": self.value})

    @classmethod
    def from_action(cls, action: Action) -> RuleAction:
        kind, value = ActionKind(action.field), action.value
        if not isinstance(value, dict):
            raise ValueError("a contact action's value is an object")
        if kind in SENDS:
            return cls(kind, template_id=value["template_id"])
        if kind in CANCELS:
            return cls(kind, template_ids=tuple(value["template_ids"]))
        return cls(kind, custom_field_id=value["custom_field_id"], value=value["value"])

    @property
    def referenced_template_ids(self) -> tuple[int, ...]:
        return (self.template_id,) if self.template_id is not None else self.template_ids


@dataclass(frozen=True)
class ContactRule:
    trigger: Trigger
    source_kind: GroupKind
    source_id: int
    action: RuleAction
    delay: Delay = Delay()
    window: SendWindow | None = None
    recurrence: Recurrence | None = None
    date_field: DateFieldTrigger | None = None

    def trigger_config(self) -> dict[str, Any]:
        return {
            "source": {"kind": self.source_kind.value, "id": self.source_id},
            "delay": {"days": self.delay.days, "hours": self.delay.hours, "minutes": self.delay.minutes},
            "window": {"from": self.window.start.text, "to": self.window.end.text} if self.window else None,
            "recurrence": {"day": self.recurrence.day, "at": self.recurrence.at.text,
                           "weekday_only": self.recurrence.weekday_only} if self.recurrence else None,
            "date_field": {"custom_field_id": self.date_field.custom_field_id,
                           "at": self.date_field.at.text} if self.date_field else None,
        }

    def title(self) -> str:
        source = f"{'list' if self.source_kind == GroupKind.LIST else 'community'} {self.source_id}"
        when = {Trigger.LIST_JOINED: f"a contact joins {source}",
                Trigger.COMMUNITY_JOINED: f"a contact joins {source}",
                Trigger.RECURRING: f"recurring ({self.recurrence.day if self.recurrence else '?'}) for {source}",
                Trigger.DATE_FIELD: f"the date in custom field "
                                    f"{self.date_field.custom_field_id if self.date_field else '?'} for {source}"}
        return f"{self.action.kind.value} when {when.get(self.trigger, self.trigger.value)}"

    def draft(self) -> AutomationDraft:
        return AutomationDraft(title=self.title(), actions=(self.action.to_action(),), conditions=Conditions(),
                               subject=SubjectKind.CONTACT, trigger=self.trigger, trigger_config=self.trigger_config())

    @classmethod
    def from_automation(cls, automation: Automation) -> ContactRule:
        """Raises ValueError, KeyError or TypeError when the stored shape is not a contact rule."""
        config = automation.trigger_config
        if len(automation.actions) != 1:
            raise ValueError("a contact automation has exactly one action")
        delay, window = config["delay"], config["window"]
        recurrence, date_field = config["recurrence"], config["date_field"]
        return cls(
            trigger=automation.trigger, source_kind=GroupKind(config["source"]["kind"]),
            source_id=config["source"]["id"], action=RuleAction.from_action(automation.actions[0]),
            delay=Delay(delay["days"], delay["hours"], delay["minutes"]),
            window=SendWindow(ClockTime.parse(window["from"]), ClockTime.parse(window["to"])) if window else None,
            recurrence=Recurrence(recurrence["day"], ClockTime.parse(recurrence["at"]),
                                  recurrence["weekday_only"]) if recurrence else None,
            date_field=DateFieldTrigger(date_field["custom_field_id"],
                                        ClockTime.parse(date_field["at"])) if date_field else None,
        )


@dataclass(frozen=True)
class Timing:
    """When a rule acts, beyond its trigger: after ``delay``, within ``window``; a recurring
    rule's ``recurrence``, a date-field rule's ``date_field``."""

    delay: Delay = Delay()
    window: SendWindow | None = None
    recurrence: Recurrence | None = None
    date_field: DateFieldTrigger | None = None


@dataclass(frozen=True)
class RuleDraft:
    """A contact rule as a request states it, before the records it names are checked. Each part
    holds its value or why it could not be read (a ValidationFailed, raised by ``known`` when the
    part's turn comes), so problems are reported part by part: the source, the action, the
    trigger, its timing; a part the request got wrong after a missing record of a part before it.

    ``trigger`` None: keep the automation's own (an update that names none). ``timings``: the
    timing as read for each trigger the rule may have (what it reads depends on the trigger)."""

    source_kind: GroupKind
    source_id: int
    action: RuleAction | ValidationFailed
    trigger: Trigger | ValidationFailed | None
    timings: Mapping[Trigger, Timing | ValidationFailed]

    @classmethod
    def of(cls, rule: ContactRule) -> RuleDraft:
        return cls(rule.source_kind, rule.source_id, rule.action, rule.trigger, {rule.trigger: Timing(
            rule.delay, rule.window, rule.recurrence, rule.date_field)})

    def rule(self, trigger: Trigger, action: RuleAction, timing: Timing) -> ContactRule:
        return ContactRule(trigger, self.source_kind, self.source_id, action, timing.delay, timing.window,
                           timing.recurrence, timing.date_field)


def known(part: T | ValidationFailed) -> T:
    """A draft's part, or why it could not be read, raised."""
    if isinstance(part, ValidationFailed):
        raise part
    return part


# -- reading user input (surfaces pass their own field names as labels) -------------------------
def whole_number(value: Any) -> int | None:
    """An int, or a string of digits (form-style clients send "5"); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        number = parse_whole(text.removeprefix("-"), MAX_WHOLE)
        return -number if number is not None and text.startswith("-") else number
    return None


def positive_id(value: Any) -> int | None:
    number = whole_number(value)
    return number if number is not None and 0 < number <= MAX_SAFE_INTEGER else None


def read_delay(days: Any, hours: Any, minutes: Any, labels: tuple[str, str, str]) -> Delay:
    """Missing parts are 0; each part is a whole number of 0 or more; the whole at most
    MAX_DELAY_DAYS days."""
    parts = [0 if v is None or v == "" else whole_number(v) for v in (days, hours, minutes)]
    if any(p is None or p < 0 for p in parts):
        raise invalid(f"{labels[0]}, {labels[1]} and {labels[2]} must be whole numbers of 0 or more.")
    delay = Delay(*parts)
    if delay.longer_than(MAX_DELAY_DAYS):
        raise invalid(f"The delay must not be longer than {MAX_DELAY_DAYS} days.")
    return delay


def read_clock_time(hour: Any, minute: Any, ampm: Any, labels: tuple[str, str, str]) -> ClockTime:
    h, m = whole_number(hour), whole_number(minute)
    if h is None or not 1 <= h <= 12:
        raise invalid(f"{labels[0]} must be a whole number from 1 to 12.")
    if m is None or not 0 <= m <= 59:
        raise invalid(f"{labels[1]} must be a whole number from 0 to 59.")
    if not isinstance(ampm, str) or ampm.strip().lower() not in ("am", "pm"):
        raise invalid(f"{labels[2]} must be am or pm.")
    return ClockTime.from_12h(h, m, ampm.strip().lower())


def read_window(start: ClockTime, end: ClockTime) -> SendWindow:
    if start == end:
        raise invalid("The send window must not start and end at the same time.")
    return SendWindow(start, end)


def read_day(value: Any, label: str = "day") -> str | int:
    """"daily", a weekday name or abbreviation (weekly), or 1-31 (monthly). Numbers 0-6 are not
    weekdays: they would clash with days of the month."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (DAILY, "day", "everyday", "every day"):
            return DAILY
        for name in WEEKDAYS:
            if text in (name, name[:3]):
                return name
    number = whole_number(value)
    if number is not None and 1 <= number <= 31:
        return number
    raise invalid(f"{label} must be daily, a weekday name (sunday to saturday) or a day of the month (1 to 31).")


def read_recurrence(day: str | int, at: ClockTime, weekday_only: bool) -> Recurrence:
    if weekday_only and day in WEEKEND:
        raise invalid("weekday_only cannot be used with a recurring day of saturday or sunday.")
    return Recurrence(day, at, weekday_only)


def flag(value: Any) -> bool:
    """Form-style switches: "on", "1", 1, true, "true" are on; anything else is off."""
    if isinstance(value, str):
        return value.strip().lower() in ("on", "1", "true", "yes")
    return value is True or (isinstance(value, int) and value == 1)


# -- the invariant every stored contact rule keeps (registered in AutomationService) -----------
_SOURCE_OF = {Trigger.COMMUNITY_JOINED: GroupKind.COMMUNITY}


def validate_contact_rule(automation: Automation, problems: Problems) -> None:
    if automation.subject != SubjectKind.CONTACT:
        problems.add("base", f"A {automation.trigger} automation applies to contacts")
    if not isinstance(automation.title, str) or not automation.title.strip():
        problems.add("title", "Title: cannot be blank")
    if automation.conditions.all or automation.conditions.any:
        problems.add("conditions", "Contact automations take no conditions")
    try:
        rule = ContactRule.from_automation(automation)
    except (KeyError, TypeError, ValueError) as e:
        problems.add("base", f"Not a valid contact automation ({e})")
        return
    if rule.source_kind != _SOURCE_OF.get(rule.trigger, GroupKind.LIST):
        problems.add("base", f"A {rule.trigger} automation's source must be a "
                             f"{_SOURCE_OF.get(rule.trigger, GroupKind.LIST)}")
    if not _is_id(rule.source_id):
        problems.add("base", "The source must be a positive id")
    _check_action(rule.action, problems)
    delay = (rule.delay.days, rule.delay.hours, rule.delay.minutes)
    if not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in delay) \
            or rule.delay.longer_than(MAX_DELAY_DAYS):
        problems.add("delay", f"The delay must be whole, non-negative and at most {MAX_DELAY_DAYS} days")
    if rule.window and rule.window.start == rule.window.end:
        problems.add("window", "The send window must not start and end at the same time")
    if (rule.recurrence is None) != (rule.trigger != Trigger.RECURRING):
        problems.add("recurrence", "Recurring automations, and only they, have a recurrence")
    elif rule.recurrence:
        try:
            read_recurrence(read_day(rule.recurrence.day), rule.recurrence.at, rule.recurrence.weekday_only)
        except ValidationFailed as e:
            problems.add("recurrence", e.message)
    if (rule.date_field is None) != (rule.trigger != Trigger.DATE_FIELD):
        problems.add("date_field", "Date-field automations, and only they, name a date field")
    elif rule.date_field and not _is_id(rule.date_field.custom_field_id):
        problems.add("date_field", "The date field must be a positive id")


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_action(action: RuleAction, problems: Problems) -> None:
    if action.kind in SENDS and not _is_id(action.template_id):
        problems.add("actions", f"{action.kind} needs a template id")
    if action.kind in CANCELS and (not action.template_ids or len(action.template_ids) > MAX_TEMPLATE_IDS
                                   or not all(_is_id(i) for i in action.template_ids)):
        problems.add("actions", f"{action.kind} needs 1 to {MAX_TEMPLATE_IDS} template ids")
    if action.kind == ActionKind.SET_CUSTOM_FIELD and (not _is_id(action.custom_field_id) or action.value is None):
        problems.add("actions", "set_custom_field needs a custom field id and a value")
