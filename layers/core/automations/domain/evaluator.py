"""The one evaluator of ticket automations, used by the hourly sweep: whether a condition or an
automation holds for a ticket at an instant, what an automation's actions do to a ticket, and
one sweep cycle over a ticket.

Semantics (Zendesk's, where it states them; the choices made where it does not):

- Time conditions count whole hours, rounded down; ``is n`` is the window [n, n+1) hours,
  ``less_than`` and ``greater_than`` are strict. "Hours since" holds only once the instant has
  passed and "hours until" only while it is still ahead; a missing instant holds nothing. The
  ``*_business_hours`` operators count business time (``BusinessHours``) instead of calendar
  time. NEW counts from creation; OPEN..CLOSED count from when the ticket entered that status
  and hold only while it is in it (see ``ticket.py``).
- status, priority and satisfaction_score compare by their order in ``ticket_rules``.
- "" means none for ids, type, recipient and custom fields. ``current_tags includes`` holds when
  the ticket has at least one of the listed tags, ``not_includes`` when it has none of them;
  ``description_includes_word`` likewise, on whole words, ignoring case.
- Custom fields: ``is``/``is_not`` compare text (numbers by value), ``includes``/``not_includes``
  compare the space-separated words, ``less_than``/``greater_than`` compare numbers when both
  sides are numbers and text otherwise (which orders ISO dates); an empty field is neither less
  nor greater than anything.

Every condition compiles to a closure once; the time conditions are then bound to a cycle's
``now`` by turning their hour thresholds into absolute cut-off instants, so testing one is a
None check and one or two datetime comparisons.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import attrgetter, eq, gt, lt, ne
from typing import Any, NamedTuple

from automations.domain.business_hours import BusinessHours
from automations.domain.model import Action, Automation, Condition, Trigger
from automations.inputs import MAX_ID, parse_whole
from automations.domain.ticket import PRIORITIES, SATISFACTION, STATUSES, Ticket, normalize_custom_fields, normalize_tags
from automations.domain.ticket_rules import CONDITION_FIELDS, NOTIFICATION_ACTIONS, SCALAR_ACTIONS, TIME_FIELDS

MAX_AUTOMATION_UPDATES = 100

Test = Callable[[Ticket], bool]
_Entry = tuple[int, Automation, tuple[Test, ...], tuple[Test, ...]]  # order, automation, bound tests

_HOUR = timedelta(hours=1)
# Hour values beyond any datetime span: clamping keeps timedelta arithmetic from overflowing
# without changing an answer.
_MAX_HOURS = 10 ** 8
_ALL_STATUSES = frozenset(STATUSES)
_CUSTOM_FIELD_PREFIX = "custom_fields_"
_NUMBER = re.compile(r"-?\d+(\.\d+)?")

# Time fields that count from a ticket attribute; the status fields (OPEN, ...) count from
# status_entered_at.
_SINCE = {"NEW": "created_at", "assigned_at": "assigned_at", "updated_at": "updated_at",
          "requester_updated_at": "requester_updated_at", "assignee_updated_at": "assignee_updated_at",
          "due_date": "due_at", "sla_next_breach_at": "sla_next_breach_at"}
_UNTIL = {"until_due_date": "due_at", "until_sla_next_breach_at": "sla_next_breach_at"}
_ORDERED = {"status": STATUSES, "priority": PRIORITIES, "satisfaction_score": SATISFACTION}
_RANK_TESTS = {"is": eq, "is_not": ne, "less_than": lt, "greater_than": gt}


def _id(value: str) -> int | str | None:
    """A condition's id value; text that is no id is kept as text, which no ticket's id equals."""
    if value == "":
        return None
    number = parse_whole(value, MAX_ID)
    return value if number is None else number


# field -> how a condition value reads as the ticket attribute of the same name
_EQUALITY: dict[str, Callable[[str], Any]] = {
    "type": str, "group_id": _id, "assignee_id": _id, "requester_id": _id, "organization_id": _id,
    "via_id": _id, "brand_id": _id, "ticket_form_id": _id, "custom_status_id": _id, "locale_id": _id,
}
_WORDS = ("current_tags", "description_includes_word")

_known = set(_SINCE) | set(_UNTIL) | set(_ORDERED) | set(_EQUALITY) | set(_WORDS) | {"recipient"}
_known |= {f for f in TIME_FIELDS if f.lower() in STATUSES}
if _known != set(CONDITION_FIELDS):
    raise RuntimeError(f"evaluator and ticket_rules disagree on condition fields: {_known ^ set(CONDITION_FIELDS)}")


@dataclass(frozen=True, slots=True)
class Notification:
    kind: str  # user | group | target | webhook
    target: str  # recipient, group id, target id or webhook id, as the action gives it
    subject: str  # "" for targets and webhooks, which have none
    body: str


@dataclass(frozen=True, slots=True)
class Firing:
    automation_id: int
    changes: dict[str, Any]  # ticket attribute -> new value
    notifications: tuple[Notification, ...]


@dataclass(frozen=True, slots=True)
class CycleResult:
    ticket: Ticket
    firings: tuple[Firing, ...]


class _WallClock:
    """Calendar time, with the interface of BusinessHours' walks."""

    @staticmethod
    def instant_before(end: datetime, duration: timedelta) -> datetime | None:
        try:
            return end - duration
        except OverflowError:
            return None

    @staticmethod
    def instant_after(start: datetime, duration: timedelta) -> datetime | None:
        try:
            return start + duration
        except OverflowError:
            return None


class _Check(NamedTuple):
    """A compiled condition. ``bind(now)`` gives its test at that instant."""

    bind: Callable[[datetime], Test]
    cost: int  # tests within a rule run cheapest first
    statuses: frozenset[str] = _ALL_STATUSES  # the ticket statuses under which it can hold
    status_only: bool = False  # it holds exactly when the ticket's status is in ``statuses``


def _never(ticket: Ticket) -> bool:
    return False


def _constant(test: Test, cost: int, **index: Any) -> _Check:
    return _Check(lambda now: test, cost, **index)


def _compile(condition: Condition, calendar: BusinessHours) -> _Check:
    name, op = condition.field, condition.operator
    value = "" if condition.value is None else str(condition.value)
    if name in TIME_FIELDS:
        return _time_check(name, op, value, calendar)
    if name in _ORDERED:
        order = _ORDERED[name]
        rank = order.index(value)
        allowed = frozenset(v for i, v in enumerate(order) if _RANK_TESTS[op](i, rank))
        if name == "status":
            return _constant(lambda t: t.status in allowed, 0, statuses=allowed, status_only=True)
        get = attrgetter(name)
        return _constant(lambda t: get(t) in allowed, 1)
    if name in _EQUALITY:
        get, expected = attrgetter(name), _EQUALITY[name](value)
        return _constant(_equality(op, lambda t: get(t) == expected), 1)
    if name == "recipient":
        address = value.lower()
        return _constant(_equality(op, lambda t: (t.recipient or "").lower() == address), 1)
    if name == "current_tags":
        tags = frozenset(normalize_tags(value))
        return _constant(_includes(op, lambda t: not tags.isdisjoint(t.tags)), 3)
    if name == "description_includes_word":
        words = re.compile(r"(?<!\w)(?:%s)(?!\w)" % "|".join(map(re.escape, value.split())), re.IGNORECASE)
        holds = (lambda t: words.search(t.description) is not None) if value.split() else _never
        return _constant(_includes(op, holds), 5)
    field_id = _custom_field_id(name)
    if field_id is not None:
        return _constant(_custom_field_test(field_id, op, value), 4)
    raise ValueError(f"unknown condition field {name!r}")


def _holds_or_not(yes: str, no: str) -> Callable[[str, Test], Test]:
    """The test of a pair of operators: what holds for ``yes``, its negation for ``no``."""
    def test(op: str, holds: Test) -> Test:
        if op == yes:
            return holds
        if op == no:
            return lambda t: not holds(t)
        raise ValueError(f"operator {op!r} takes {yes} or {no}")

    return test


_equality, _includes = _holds_or_not("is", "is_not"), _holds_or_not("includes", "not_includes")


def _custom_field_id(name: str) -> int | None:
    digits = name.removeprefix(_CUSTOM_FIELD_PREFIX)
    return parse_whole(digits, MAX_ID) if digits != name else None


def _custom_field_test(field_id: int, op: str, value: str) -> Test:
    def read(t: Ticket) -> str | None:
        return t.custom_field(field_id)

    if op == "present" or (op == "is_not" and value == ""):
        return lambda t: read(t) is not None
    if op == "not_present" or (op == "is" and value == ""):
        return lambda t: read(t) is None
    if op in ("is", "is_not"):
        return _equality(op, lambda t: (v := read(t)) is not None and _compare(v, value) == 0)
    if op in ("includes", "not_includes"):
        words = frozenset(value.lower().split())
        return _includes(op, lambda t: (v := read(t)) is not None and not words.isdisjoint(v.lower().split()))
    if op in ("less_than", "greater_than"):
        sign = -1 if op == "less_than" else 1
        return lambda t: (v := read(t)) is not None and _compare(v, value) == sign
    raise ValueError(f"operator {op!r} does not apply to custom fields")


def _compare(a: str, b: str) -> int:
    """-1, 0 or 1: by value when both are numbers, else as text."""
    if _NUMBER.fullmatch(a) and _NUMBER.fullmatch(b):
        x, y = float(a), float(b)
        return (x > y) - (x < y)
    return (a > b) - (a < b)


def _time_check(name: str, op: str, value: str, calendar: BusinessHours) -> _Check:
    base = op.removesuffix("_business_hours")
    clock = calendar if base != op else _WallClock
    hours = min(int(value), _MAX_HOURS)
    # elapsed whole hours in [low, high); high None is unbounded
    low, high = {"is": (hours, hours + 1), "less_than": (0, hours), "greater_than": (hours + 1, None)}[base]
    low_span, high_span = low * _HOUR, None if high is None else high * _HOUR

    if name in _UNTIL:
        get = attrgetter(_UNTIL[name])

        def bind_until(now: datetime) -> Test:
            # hours until x in [low, high)  <=>  first <= x < stop
            first = clock.instant_after(now, low_span)
            stop = None if high_span is None else clock.instant_after(now, high_span)
            if first is None:
                return _never
            if stop is None:
                return lambda t: (x := get(t)) is not None and x >= first
            return lambda t: (x := get(t)) is not None and first <= x < stop

        return _Check(bind_until, 2)

    statuses = _ALL_STATUSES
    if name in _SINCE:
        get = attrgetter(_SINCE[name])
    else:
        status = name.lower()
        slot, statuses = STATUSES.index(status), frozenset((status,))

        def get(t: Ticket) -> datetime | None:
            return t.status_entered_at[slot] if t.status == status else None

    def bind_since(now: datetime) -> Test:
        # hours since x in [low, high)  <=>  earliest < x <= latest
        latest = clock.instant_before(now, low_span)
        earliest = None if high_span is None else clock.instant_before(now, high_span)
        if latest is None:
            return _never
        if earliest is None:
            return lambda t: (x := get(t)) is not None and x <= latest
        return lambda t: (x := get(t)) is not None and earliest < x <= latest

    return _Check(bind_since, 2, statuses=statuses)


def attributes_read(condition: Condition) -> tuple[str, ...]:
    """The ticket attributes a condition reads."""
    name = condition.field
    if name in _SINCE or name in _UNTIL:
        return (_SINCE.get(name) or _UNTIL[name],)
    if name in TIME_FIELDS:
        return ("status", "status_entered_at")
    if name == "current_tags":
        return ("tags",)
    if name == "description_includes_word":
        return ("description",)
    if _custom_field_id(name) is not None:
        return ("custom_fields",)
    return (name,)


def _holds(alls: Sequence[Test], anys: Sequence[Test], ticket: Ticket) -> bool:
    for test in alls:
        if not test(ticket):
            return False
    if not anys:
        return True
    for test in anys:
        if test(ticket):
            return True
    return False


def condition_holds(condition: Condition, ticket: Ticket, now: datetime, calendar: BusinessHours) -> bool:
    return _compile(condition, calendar).bind(now)(ticket)


def matches(automation: Automation, ticket: Ticket, now: datetime, calendar: BusinessHours) -> bool:
    """All of ``all`` hold, and ``any`` is empty or one of it holds."""
    rule = _Rule.compile(automation, calendar)
    return _holds([c.bind(now) for c in rule.alls], [c.bind(now) for c in rule.anys], ticket)


@dataclass(frozen=True, slots=True)
class _Rule:
    automation: Automation
    alls: tuple[_Check, ...]  # cheapest first
    anys: tuple[_Check, ...]
    statuses: frozenset[str]  # the ticket statuses under which the rule can hold

    @classmethod
    def compile(cls, automation: Automation, calendar: BusinessHours) -> _Rule:
        alls = tuple(sorted((_compile(c, calendar) for c in automation.conditions.all), key=attrgetter("cost")))
        anys = tuple(sorted((_compile(c, calendar) for c in automation.conditions.any), key=attrgetter("cost")))
        statuses = _ALL_STATUSES.intersection(*(c.statuses for c in alls))
        if anys:
            statuses &= frozenset().union(*(c.statuses for c in anys))
        return cls(automation, alls, anys, statuses)


class CompiledRules:
    """An account's active sweep automations compiled once, for the sweep to apply to each of
    its tickets with ``run_cycle``.

    Speed: the rules are indexed by the ticket statuses they can hold under (conditions on
    status and on OPEN..CLOSED decide that), so a ticket is only tested against the rules of its
    status; the others are decided by the lookup. Within a rule the cheapest tests run first,
    and status tests the index already decided are dropped. Hour thresholds become cut-off
    instants once per cycle ``now``.
    """

    def __init__(self, automations: Iterable[Automation], calendar: BusinessHours) -> None:
        chosen = sorted((a for a in automations if a.active and a.trigger is Trigger.SWEEP),
                        key=attrgetter("position"))
        rules: list[_Rule] = []
        self.unusable: dict[int, str] = {}  # automation id -> why it cannot be compiled (left out, alone)
        for automation in chosen:
            try:
                rules.append(_Rule.compile(automation, calendar))
            except Exception as error:  # noqa: BLE001 - a stored rule today's checks would refuse
                self.unusable[automation.id] = f"{type(error).__name__}: {error}"
        self.automations = tuple(rule.automation for rule in rules)
        self._rules = tuple(rules)
        # (now, status -> the rules that can hold under it, bound to now); one attribute, so
        # a reader never sees an index of one instant with the tests of another
        self._bound: tuple[datetime | None, dict[str, tuple[_Entry, ...]]] = (None, {})

    def _index(self, now: datetime) -> dict[str, tuple[_Entry, ...]]:
        bound_at, index = self._bound
        if bound_at != now:
            entries = [(order, rule, (order, rule.automation,
                                      tuple(c.bind(now) for c in rule.alls if not c.status_only),
                                      tuple(c.bind(now) for c in rule.anys)))
                       for order, rule in enumerate(self._rules)]
            index = {s: tuple(entry for _, rule, entry in entries if s in rule.statuses) for s in STATUSES}
            self._bound = (now, index)
        return index

    def run_cycle(self, ticket: Ticket, now: datetime, already_fired: frozenset[int] = frozenset()) -> CycleResult:
        """One sweep cycle over ``ticket`` at ``now``: the automations in position order, each
        tested on the ticket as the earlier ones left it, firing those that hold. An
        automation in ``already_fired`` (by an earlier attempt at this cycle) is skipped, and
        one whose actions would change and send nothing is not a firing. Closed tickets are
        never touched, and the cycle stops once the ticket has had MAX_AUTOMATION_UPDATES
        updates by automations (each firing is one, notifications included)."""
        index = self._index(now)
        firings: list[Firing] = []
        last = -1  # order of the last rule that held; the walk continues after it
        while ticket.status != "closed" and ticket.automation_updates < MAX_AUTOMATION_UPDATES:
            for order, automation, alls, anys in index[ticket.status]:
                if order <= last or automation.id in already_fired or not _holds(alls, anys, ticket):
                    continue
                last = order
                changed, changes, notifications = apply_actions(ticket, automation.actions, now)
                if changes or notifications:
                    ticket = replace(changed, automation_updates=changed.automation_updates + 1)
                    firings.append(Firing(automation.id, changes, tuple(notifications)))
                    break  # the status may have changed: go on in the index of the new one
            else:
                break
        return CycleResult(ticket, tuple(firings))


def _without_tags(current: tuple[str, ...], value: str) -> tuple[str, ...]:
    removed = set(normalize_tags(value))
    return tuple(t for t in current if t not in removed)


def _keep_unless_offered(current: str, value: str) -> str:
    # Offering satisfaction once more would not change a rating already given or asked for.
    return value if current == "unoffered" else current


# action field -> (ticket attribute, new value from the current one and the action's value)
_FIELD_ACTIONS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "status": ("status", lambda current, value: value),
    "type": ("type", lambda current, value: value),
    "priority": ("priority", lambda current, value: value),
    "group_id": ("group_id", lambda current, value: _id(value)),
    "assignee_id": ("assignee_id", lambda current, value: _id(value)),
    "custom_status_id": ("custom_status_id", lambda current, value: _id(value)),
    "ticket_form_id": ("ticket_form_id", lambda current, value: _id(value)),
    "satisfaction_score": ("satisfaction_score", _keep_unless_offered),
    "set_tags": ("tags", lambda current, value: normalize_tags(value)),
    "current_tags": ("tags", lambda current, value: normalize_tags(current + (value,))),
    "remove_tags": ("tags", _without_tags),
}
if set(_FIELD_ACTIONS) != set(SCALAR_ACTIONS):
    raise RuntimeError(f"evaluator and ticket_rules disagree on actions: {set(_FIELD_ACTIONS) ^ set(SCALAR_ACTIONS)}")


def apply_actions(ticket: Ticket, actions: Iterable[Action], now: datetime
                  ) -> tuple[Ticket, dict[str, Any], list[Notification]]:
    """The ticket after ``actions`` (in order; a later one on the same field wins), the real
    changes (ticket attribute -> new value, as the ticket holds it) and the notifications to
    send, unrendered."""
    values: dict[str, Any] = {}
    notifications: list[Notification] = []
    for action in actions:
        name, value = action.field, action.value
        if name in NOTIFICATION_ACTIONS:
            parts = dict(zip(NOTIFICATION_ACTIONS[name], value))
            notifications.append(Notification(name.removeprefix("notification_"), value[0],
                                              parts.get("subject", ""), parts["body"]))
        elif name in _FIELD_ACTIONS:
            attribute, compute = _FIELD_ACTIONS[name]
            values[attribute] = compute(values.get(attribute, getattr(ticket, attribute)), value)
        elif (field_id := _custom_field_id(name)) is not None:
            current = dict(values.get("custom_fields", ticket.custom_fields))
            values["custom_fields"] = normalize_custom_fields(current | {field_id: value})
        else:
            raise ValueError(f"unknown action field {name!r}")
    changes = {k: v for k, v in values.items() if v != getattr(ticket, k)}
    return ticket.with_changes(changes, now), changes, notifications
