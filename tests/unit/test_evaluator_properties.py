"""The evaluator against a deliberately naive reference: each condition read straight from its
definition (hours by subtraction and floor, business hours by ``hours_between``), each cycle a
plain walk over every automation with no index and no cut-off instants."""
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automations.domain.business_hours import BusinessHours
from automations.domain.evaluator import (
    MAX_AUTOMATION_UPDATES, CompiledRules, CycleResult, Firing, apply_actions, condition_holds, matches,
)
from automations.domain.model import Action, Automation, Condition, Conditions, SubjectKind, Trigger
from automations.domain.ticket import Ticket
from automations.domain.ticket import PRIORITIES, SATISFACTION, STATUSES, TICKET_TYPES
from automations.domain.ticket_rules import CONDITION_FIELDS, TIME_FIELDS, TIME_OPERATORS, condition_spec

FAST = settings(max_examples=200, deadline=None)
H = timedelta(hours=1)
SINCE = {"NEW": "created_at", "assigned_at": "assigned_at", "updated_at": "updated_at",
         "requester_updated_at": "requester_updated_at", "assignee_updated_at": "assignee_updated_at",
         "due_date": "due_at", "sla_next_breach_at": "sla_next_breach_at"}
UNTIL = {"until_due_date": "due_at", "until_sla_next_breach_at": "sla_next_breach_at"}
ORDERS = {"status": STATUSES, "priority": PRIORITIES, "satisfaction_score": SATISFACTION}
IDS = ("group_id", "assignee_id", "requester_id", "organization_id", "via_id", "brand_id", "ticket_form_id",
       "custom_status_id", "locale_id")


# --- the reference ------------------------------------------------------------------------

def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def ref_compare(a, b):
    x, y = number(a), number(b)
    if x is not None and y is not None:
        a, b = x, y
    return (a > b) - (a < b)


def ref_time(c, t, now, calendar):
    if c.field in SINCE or c.field in UNTIL:
        at = getattr(t, SINCE.get(c.field) or UNTIL[c.field])
    else:
        at = t.entered(c.field.lower()) if t.status == c.field.lower() else None
    if at is None:
        return False
    start, end = (now, at) if c.field in UNTIL else (at, now)
    if end < start:
        return False
    operator = c.operator.removesuffix("_business_hours")
    if operator != c.operator:
        hours = calendar.hours_between(start, end)
    else:
        hours = int((end - start).total_seconds() // 3600)
    n = int(c.value)
    return {"is": hours == n, "less_than": hours < n, "greater_than": hours > n}[operator]


def ref_condition(c, t, now, calendar):
    f, op, v = c.field, c.operator, c.value
    if f in TIME_FIELDS:
        return ref_time(c, t, now, calendar)
    if f in ORDERS:
        mine, theirs = ORDERS[f].index(getattr(t, f)), ORDERS[f].index(v)
        return {"is": mine == theirs, "is_not": mine != theirs, "less_than": mine < theirs,
                "greater_than": mine > theirs}[op]
    if f in IDS or f in ("type", "recipient"):
        if f in IDS:
            same = getattr(t, f) == (None if v == "" else int(v))
        elif f == "type":
            same = t.type == v
        else:
            same = (t.recipient or "").lower() == v.lower()
        return same if op == "is" else not same
    if f in ("current_tags", "description_includes_word"):
        have = set(t.tags) if f == "current_tags" else set(re.findall(r"\w+", t.description.lower()))
        found = bool(have & set(v.lower().split()))
        return found if op == "includes" else not found
    value = t.custom_field(int(f.removeprefix("custom_fields_")))
    if op in ("present", "not_present"):
        return (value is not None) == (op == "present")
    if op in ("is", "is_not"):
        same = value is None if v == "" else value is not None and ref_compare(value, v) == 0
        return same if op == "is" else not same
    if op in ("includes", "not_includes"):
        found = value is not None and bool(set(value.lower().split()) & set(v.lower().split()))
        return found if op == "includes" else not found
    return value is not None and ref_compare(value, v) == (-1 if op == "less_than" else 1)


def ref_matches(a, t, now, calendar):
    return (all(ref_condition(c, t, now, calendar) for c in a.conditions.all)
            and (not a.conditions.any or any(ref_condition(c, t, now, calendar) for c in a.conditions.any)))


def ref_cycle(automations, t, now, calendar, already_fired):
    firings = []
    for a in sorted(automations, key=lambda a: a.position):
        if t.status == "closed" or t.automation_updates >= MAX_AUTOMATION_UPDATES:
            break
        if not a.active or a.trigger != Trigger.SWEEP or a.id in already_fired:
            continue
        if ref_matches(a, t, now, calendar):
            changed, changes, notifications = apply_actions(t, a.actions, now)
            if changes or notifications:
                t = replace(changed, automation_updates=changed.automation_updates + 1)
                firings.append(Firing(a.id, changes, tuple(notifications)))
    return CycleResult(t, tuple(firings))


# --- generators ---------------------------------------------------------------------------

CALENDARS = [BusinessHours(), BusinessHours("America/New_York"),
             BusinessHours("Europe/Amsterdam", tuple(((0, 360), (1320, 1440)) for _ in range(7))),
             BusinessHours("Asia/Kolkata", tuple(((540, 780), (840, 1080)) if d < 6 else () for d in range(7)))]
NOWS = [datetime(2026, 3, 9, 14, 30, tzinfo=UTC), datetime(2026, 11, 2, 9, tzinfo=UTC),
        datetime(2026, 3, 30, 8, 15, tzinfo=UTC), datetime(2026, 6, 15, 10, tzinfo=UTC)]
TAGS = ("vip", "billing", "bug", "urgent", "done")
WORDS = ("refund", "invoice", "broken", "hello", "Refund")
CUSTOM_VALUES = ("10", "9", "2.5", "-3", "abc", "Abc", "2026-01-01", "2025-12-31", "red blue", "")
CUSTOM_FIELDS = ("custom_fields_1", "custom_fields_2")
RECIPIENTS = ("", "help@x.com", "HELP@x.com", "sales@x.com")

nows = st.builds(lambda base, minutes: base + timedelta(minutes=minutes), st.sampled_from(NOWS),
                 st.integers(-90, 90))
# Small hour counts on both sides, so that thresholds and elapsed times often meet, with jitter
# that lands on, just before and just after whole hours.
small_hours = st.integers(-8, 8) | st.integers(-150, 150)
offsets = st.builds(lambda hours, jitter: hours * H + jitter, small_hours,
                    st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1),
                                     timedelta(minutes=30), timedelta(minutes=59)]))
ids = st.sampled_from([None, 1, 2])


@st.composite
def tickets(draw, now):
    def instant():
        offset = draw(st.none() | offsets)
        return None if offset is None else now + offset

    return Ticket(
        account_id="acc", id=1, status=draw(st.sampled_from(STATUSES)), priority=draw(st.sampled_from(PRIORITIES)),
        type=draw(st.sampled_from(TICKET_TYPES)), satisfaction_score=draw(st.sampled_from(SATISFACTION)),
        **{name: draw(ids) for name in IDS},
        recipient=draw(st.sampled_from(RECIPIENTS)) or None,
        tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3))),
        description=" ".join(draw(st.lists(st.sampled_from(WORDS + ("other,", "text.")), max_size=4))),
        custom_fields={1: draw(st.sampled_from(CUSTOM_VALUES)), 2: draw(st.sampled_from(CUSTOM_VALUES))},
        **{name: instant() for name in set(SINCE.values())},
        status_entered_at={s: instant() for s in STATUSES},
        automation_updates=draw(st.sampled_from([0, 1, MAX_AUTOMATION_UPDATES - 2, MAX_AUTOMATION_UPDATES - 1,
                                                 MAX_AUTOMATION_UPDATES])),
    )


def values_for(field):
    if field in TIME_FIELDS:
        return (st.integers(0, 8) | st.integers(0, 160)).map(str)
    if field in ORDERS:
        return st.sampled_from(ORDERS[field])
    if field == "type":
        return st.sampled_from(TICKET_TYPES)
    if field in IDS:
        return st.sampled_from(("", "1", "2") if field in ("group_id", "assignee_id", "requester_id",
                                                          "organization_id") else ("1", "2"))
    if field == "recipient":
        return st.sampled_from(RECIPIENTS)
    if field in ("current_tags", "description_includes_word"):
        pool = TAGS if field == "current_tags" else WORDS
        return st.lists(st.sampled_from(pool), min_size=1, max_size=2).map(" ".join)
    return st.sampled_from(CUSTOM_VALUES)


# Drawing a family first gives the small families (custom fields, words) their fair share.
FAMILIES = (TIME_FIELDS, tuple(ORDERS) + ("type",), IDS + ("recipient",), ("current_tags", "description_includes_word"),
            CUSTOM_FIELDS)
NON_TIME = FAMILIES[1:]


def test_families_cover_the_vocabulary():
    assert set().union(*FAMILIES) == set(CONDITION_FIELDS) | set(CUSTOM_FIELDS)


@st.composite
def conditions(draw, families=FAMILIES):
    field = draw(st.sampled_from(families).flatmap(st.sampled_from))
    operators, check = condition_spec(field)
    operator = draw(st.sampled_from(operators))
    value = draw(values_for(field))
    assert operator in ("present", "not_present") or check(value) is None
    return Condition(field, operator, value)


ACTIONS = [Action("status", s) for s in ("open", "pending", "hold", "solved", "closed")] + [
    Action("priority", "high"), Action("current_tags", "done"), Action("remove_tags", "vip bug"),
    Action("set_tags", "billing"), Action("assignee_id", ""), Action("assignee_id", "2"), Action("group_id", "1"),
    Action("custom_fields_1", "10"), Action("satisfaction_score", "offered"), Action("type", "task"),
    Action("notification_user", ["requester_id", "Hi", "{{ticket.id}}"]), Action("notification_webhook", ["w", "b"]),
]


@st.composite
def automations(draw, id):
    # mostly anchored on status, as real rules are, so the index is exercised
    anchor = draw(st.lists(st.builds(Condition, st.just("status"), st.sampled_from(("is", "is", "is_not", "less_than",
                                                                                    "greater_than")),
                                     st.sampled_from(STATUSES)), max_size=1))
    return Automation(
        account_id="acc", id=id, uuid=f"u{id}", title=f"rule {id}", active=draw(st.booleans() | st.just(True)),
        position=draw(st.integers(0, 10)), subject=SubjectKind.TICKET,
        trigger=draw(st.sampled_from([Trigger.SWEEP] * 5 + [Trigger.EVENT])),
        conditions=Conditions(tuple(anchor + draw(st.lists(conditions(), min_size=1, max_size=3))),
                              tuple(draw(st.lists(conditions(NON_TIME), max_size=2)))),
        actions=tuple(draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3))),
        created_at=NOWS[0], updated_at=NOWS[0])


@st.composite
def chain_links(draw, id):
    """Rules that usually hold (a status condition and an hour count the ticket has passed), so
    that cycles fire several in a row and move tickets between statuses."""
    status = Condition("status", draw(st.sampled_from(("is", "is", "is_not", "less_than", "greater_than"))),
                       draw(st.sampled_from(STATUSES)))
    age = Condition(draw(st.sampled_from(("NEW", "updated_at"))), draw(st.sampled_from(("greater_than", "less_than"))),
                    str(draw(st.integers(0, 3))))
    extra = draw(st.lists(conditions(NON_TIME), max_size=1))
    return Automation(
        account_id="acc", id=id, uuid=f"u{id}", title=f"rule {id}", active=True, position=draw(st.integers(0, 10)),
        subject=SubjectKind.TICKET, trigger=Trigger.SWEEP, conditions=Conditions((status, age, *extra)),
        actions=tuple(draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2))),
        created_at=NOWS[0], updated_at=NOWS[0])


# --- properties ---------------------------------------------------------------------------

@FAST
@given(st.data())
def test_condition_holds_as_defined(data):
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    t = data.draw(tickets(now))
    c = data.draw(conditions())
    assert condition_holds(c, t, now, calendar) == ref_condition(c, t, now, calendar)


@pytest.mark.parametrize("operator", TIME_OPERATORS)
@pytest.mark.parametrize("fields", [tuple(SINCE), tuple(UNTIL), tuple(f for f in TIME_FIELDS if f.lower() in STATUSES)])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_time_conditions_at_their_boundaries(fields, operator, data):
    """The condition's instant placed on, or a hair either side of, the hour edges at its value."""
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    c = Condition(data.draw(st.sampled_from(fields)), operator, str(data.draw(st.integers(0, 8) | st.integers(0, 160))))
    span = (int(c.value) + data.draw(st.integers(0, 1))) * H
    jitter = data.draw(st.sampled_from([timedelta(0), timedelta(0), timedelta(microseconds=1),
                                        -timedelta(microseconds=1)]))
    business = c.operator.endswith("_business_hours")
    if c.field in UNTIL:
        at = (calendar.instant_after(now, span) if business else now + span) + jitter
    else:
        at = (calendar.instant_before(now, span) if business else now - span) - jitter
    t = data.draw(tickets(now))
    if c.field in SINCE or c.field in UNTIL:
        t = replace(t, **{SINCE.get(c.field) or UNTIL[c.field]: at})
    else:
        status = c.field.lower()
        entered = {s: t.entered(s) for s in STATUSES} | {status: at}
        t = replace(t, status=data.draw(st.sampled_from([status, status, "open"])), status_entered_at=entered)
    assert condition_holds(c, t, now, calendar) == ref_condition(c, t, now, calendar)


@FAST
@given(st.data())
def test_matches_as_defined(data):
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    t = data.draw(tickets(now))
    a = data.draw(automations(1))
    assert matches(a, t, now, calendar) == ref_matches(a, t, now, calendar)


@FAST
@given(st.data())
def test_run_cycle_as_a_plain_walk(data):
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    rules = [data.draw(automations(i)) for i in range(1, data.draw(st.integers(1, 8)) + 1)]
    fired = frozenset(data.draw(st.lists(st.sampled_from([r.id for r in rules]), max_size=2)))
    compiled = CompiledRules(rules, calendar)
    for _ in range(3):  # the same compiled rules serve many tickets of one cycle
        t = data.draw(tickets(now))
        assert compiled.run_cycle(t, now, fired) == ref_cycle(rules, t, now, calendar, fired)


@FAST
@given(st.data())
def test_run_cycle_through_chains_of_firings(data):
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    rules = [data.draw(chain_links(i)) for i in range(1, data.draw(st.integers(2, 8)) + 1)]
    t = replace(data.draw(tickets(now)), created_at=now - 2 * H, updated_at=now - 2 * H, automation_updates=0)
    assert CompiledRules(rules, calendar).run_cycle(t, now) == ref_cycle(rules, t, now, calendar, frozenset())


@FAST
@given(st.data())
def test_a_cycle_only_moves_forward(data):
    now, calendar = data.draw(nows), data.draw(st.sampled_from(CALENDARS))
    rules = [data.draw(chain_links(i)) for i in range(1, 6)]
    t = data.draw(tickets(now))
    result = CompiledRules(rules, calendar).run_cycle(t, now)
    ids = [f.automation_id for f in result.firings]
    assert len(ids) == len(set(ids))
    assert result.ticket.automation_updates == t.automation_updates + len(ids)
    assert result.ticket.automation_updates <= max(t.automation_updates, MAX_AUTOMATION_UPDATES)
    if t.status == "closed":
        assert result.ticket is t
