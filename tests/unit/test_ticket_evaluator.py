from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from automations.domain.business_hours import BusinessHours
from automations.domain.evaluator import (
    MAX_AUTOMATION_UPDATES, CompiledRules, Firing, Notification, apply_actions, condition_holds, matches,
)
from automations.domain.model import Action, Automation, Condition, Conditions, SubjectKind, Trigger
from automations.domain.ticket import Ticket, normalize_tags

NOW = datetime(2026, 6, 15, 10, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
CALENDAR = BusinessHours()  # Monday to Friday, 09:00-17:00 UTC


def ticket(**values) -> Ticket:
    return Ticket.create("acc", 1, NOW - 1000 * H, **values)


def holds(field, operator, value, t, now=NOW) -> bool:
    return condition_holds(Condition(field, operator, value), t, now, CALENDAR)


def automation(id, all=(), any=(), actions=(("current_tags", "done"),), position=None, active=True,
               trigger=Trigger.SWEEP) -> Automation:
    return Automation(
        account_id="acc", id=id, uuid=f"u{id}", title=f"rule {id}", active=active,
        position=id if position is None else position, subject=SubjectKind.TICKET, trigger=trigger,
        conditions=Conditions(tuple(Condition(*c) for c in all), tuple(Condition(*c) for c in any)),
        actions=tuple(Action(*a) for a in actions), created_at=NOW, updated_at=NOW)


# --- the ticket ---------------------------------------------------------------------------

def test_ticket_normalizes_tags_custom_fields_and_status_times():
    t = Ticket("acc", 1, tags=("VIP", "bug billing", "vip"), custom_fields={2: "x", 1: "", 3: None, 4: "y"},
               status_entered_at={"open": NOW})
    assert t.tags == ("vip", "bug", "billing")
    assert t.custom_fields == ((2, "x"), (4, "y"))
    assert t.custom_field(2) == "x" and t.custom_field(1) is None
    assert t.entered("open") == NOW and t.entered("new") is None
    assert hash(t) == hash(Ticket("acc", 1, tags=("vip", "bug", "billing"), custom_fields=((2, "x"), (4, "y")),
                                  status_entered_at={"open": NOW}))


def test_ticket_rejects_bad_values():
    with pytest.raises(ValueError, match="status"):
        Ticket("acc", 1, status="deleted")
    with pytest.raises(ValueError, match="priority"):
        Ticket("acc", 1, priority="critical")
    with pytest.raises(ValueError, match="timezone"):
        Ticket("acc", 1, updated_at=datetime(2026, 1, 1))


def test_create_starts_the_derived_timestamps():
    t = Ticket.create("acc", 7, NOW, status="open", assignee_id=3)
    assert (t.created_at, t.updated_at, t.assigned_at, t.entered("open")) == (NOW, NOW, NOW, NOW)


def test_with_changes_maintains_derived_timestamps():
    t = ticket(status="open", assignee_id=3)
    later = NOW + H
    changed = t.with_changes({"status": "pending", "assignee_id": 4, "priority": "high"}, later)
    assert changed.status == "pending" and changed.entered("pending") == later
    assert changed.entered("open") == t.entered("open")
    assert changed.assigned_at == later and changed.updated_at == later
    assert changed.with_changes({"assignee_id": None}, later).assigned_at is None
    assert t.with_changes({"status": "open", "priority": ""}, later) is t
    with pytest.raises(ValueError, match="updated_at"):
        t.with_changes({"updated_at": later}, later)


# --- time conditions ----------------------------------------------------------------------

@pytest.mark.parametrize(("elapsed", "greater", "is_", "less"), [
    (95 * H, False, False, True),
    (96 * H - timedelta(seconds=1), False, False, True),
    (96 * H, False, True, False),
    (96.5 * H, False, True, False),
    (97 * H - timedelta(microseconds=1), False, True, False),
    (97 * H, True, False, False),
    (500 * H, True, False, False),
])
def test_hours_are_whole_and_rounded_down(elapsed, greater, is_, less):
    t = ticket(status="solved", status_entered_at={"solved": NOW - elapsed})
    assert holds("SOLVED", "greater_than", "96", t) is greater
    assert holds("SOLVED", "is", "96", t) is is_
    assert holds("SOLVED", "less_than", "96", t) is less


def test_status_hours_hold_only_in_that_status():
    reopened = ticket(status="open", status_entered_at={"solved": NOW - 200 * H, "open": NOW - 2 * H})
    assert not holds("SOLVED", "greater_than", "96", reopened)
    assert holds("OPEN", "is", "2", reopened)
    for status in ("PENDING", "HOLD", "CLOSED"):
        assert not holds(status, "less_than", "1000", reopened)


def test_new_counts_from_creation_in_any_status():
    t = ticket(status="pending")
    assert holds("NEW", "is", "1000", t)
    assert holds("NEW", "greater_than", "999", t)


@pytest.mark.parametrize("field", ["assigned_at", "updated_at", "requester_updated_at", "assignee_updated_at",
                                   "due_date", "sla_next_breach_at", "until_due_date", "until_sla_next_breach_at"])
@pytest.mark.parametrize("operator", ["is", "less_than", "greater_than", "is_business_hours",
                                      "less_than_business_hours", "greater_than_business_hours"])
def test_a_missing_instant_holds_nothing(field, operator):
    t = Ticket("acc", 1, status="open")
    assert not holds(field, operator, "5", t)


@pytest.mark.parametrize(("field", "attribute"), [
    ("assigned_at", "assigned_at"), ("updated_at", "updated_at"), ("requester_updated_at", "requester_updated_at"),
    ("assignee_updated_at", "assignee_updated_at"), ("due_date", "due_at"), ("sla_next_breach_at", "sla_next_breach_at"),
])
def test_hours_since(field, attribute):
    t = ticket(status="open", **{attribute: NOW - 5.5 * H})
    assert holds(field, "is", "5", t)
    assert holds(field, "greater_than", "4", t) and not holds(field, "greater_than", "5", t)
    assert holds(field, "less_than", "6", t) and not holds(field, "less_than", "5", t)
    future = ticket(status="open", **{attribute: NOW + H})
    assert not any(holds(field, op, "0", future) for op in ("is", "less_than"))
    assert not holds(field, "less_than", "10", future)


@pytest.mark.parametrize(("field", "attribute"), [("until_due_date", "due_at"),
                                                  ("until_sla_next_breach_at", "sla_next_breach_at")])
def test_hours_until(field, attribute):
    t = ticket(status="open", **{attribute: NOW + 5.5 * H})
    assert holds(field, "is", "5", t)
    assert holds(field, "greater_than", "4", t) and not holds(field, "greater_than", "5", t)
    assert holds(field, "less_than", "6", t) and not holds(field, "less_than", "5", t)
    due_now = ticket(status="open", **{attribute: NOW})
    assert holds(field, "is", "0", due_now) and holds(field, "less_than", "1", due_now)
    past = ticket(status="open", **{attribute: NOW - timedelta(seconds=1)})
    assert not any(holds(field, op, "0", past) for op in ("is", "less_than", "greater_than"))
    assert not holds(field, "less_than", "10", past)


def test_less_than_zero_never_holds():
    t = ticket(status="open", updated_at=NOW)
    assert not holds("updated_at", "less_than", "0", t)
    assert holds("updated_at", "is", "0", t)


def test_business_hours_operators():
    friday_four_pm = datetime(2026, 6, 12, 16, tzinfo=UTC)  # 66 calendar hours, 2 business hours before NOW
    t = ticket(status="open", updated_at=friday_four_pm)
    assert holds("updated_at", "greater_than", "65", t)
    assert holds("updated_at", "greater_than_business_hours", "1", t)
    assert not holds("updated_at", "greater_than_business_hours", "2", t)
    assert holds("updated_at", "is_business_hours", "2", t)
    assert holds("updated_at", "less_than_business_hours", "3", t)
    assert not holds("updated_at", "less_than_business_hours", "2", t)
    # due next Monday 10:00: 7 + 4 * 8 + 1 business hours from now, 1 + 1 from Friday 16:00
    due = ticket(status="open", due_at=NOW + 7 * 24 * H)
    assert holds("until_due_date", "is_business_hours", "40", due)
    friday = NOW + 4 * 24 * H + 6 * H
    assert holds("until_due_date", "is_business_hours", "2", due, now=friday)
    assert holds("until_due_date", "greater_than_business_hours", "1", due, now=friday)
    assert not holds("until_due_date", "greater_than_business_hours", "2", due, now=friday)
    assert holds("until_due_date", "less_than", "67", due, now=friday)


def test_business_hours_follow_the_calendar_zone():
    amsterdam = BusinessHours("Europe/Amsterdam")
    t = ticket(status="open", updated_at=datetime(2026, 6, 15, 6, tzinfo=UTC))  # 08:00 in Amsterdam
    condition = Condition("updated_at", "is_business_hours", "3")
    assert condition_holds(condition, t, NOW, amsterdam)  # 09:00 to 12:00 local
    assert not condition_holds(condition, t, NOW, CALENDAR)  # 09:00 to 10:00 UTC


# --- other fields -------------------------------------------------------------------------

def test_status_order():
    t = ticket(status="pending")
    assert holds("status", "is", "pending", t) and not holds("status", "is_not", "pending", t)
    assert holds("status", "less_than", "hold", t) and not holds("status", "less_than", "pending", t)
    assert holds("status", "greater_than", "open", t) and not holds("status", "greater_than", "pending", t)
    assert holds("status", "less_than", "solved", ticket(status="new"))


def test_priority_order_with_none_lowest():
    assert holds("priority", "less_than", "low", ticket(priority=""))
    assert not holds("priority", "less_than", "low", ticket(priority="low"))
    assert holds("priority", "greater_than", "normal", ticket(priority="urgent"))
    assert holds("priority", "is", "", ticket()) and holds("priority", "is_not", "high", ticket())


def test_satisfaction_order():
    assert holds("satisfaction_score", "is", "unoffered", ticket())
    assert holds("satisfaction_score", "greater_than", "bad_with_comment", ticket(satisfaction_score="good"))
    assert holds("satisfaction_score", "less_than", "good", ticket(satisfaction_score="offered"))


def test_type():
    assert holds("type", "is", "", ticket()) and holds("type", "is_not", "task", ticket())
    assert holds("type", "is", "incident", ticket(type="incident"))


@pytest.mark.parametrize("field", ["group_id", "assignee_id", "requester_id", "organization_id"])
def test_ids_with_empty_meaning_none(field):
    none, some = ticket(), ticket(**{field: 42})
    assert holds(field, "is", "", none) and not holds(field, "is", "", some)
    assert holds(field, "is_not", "", some) and not holds(field, "is_not", "", none)
    assert holds(field, "is", "42", some) and not holds(field, "is", "43", some)
    assert holds(field, "is_not", "43", some) and holds(field, "is_not", "42", none)


@pytest.mark.parametrize("field", ["via_id", "brand_id", "ticket_form_id", "custom_status_id", "locale_id"])
def test_numeric_ids(field):
    t = ticket(**{field: 4})
    assert holds(field, "is", "4", t) and holds(field, "is_not", "5", t) and not holds(field, "is", "4", ticket())


def test_recipient_ignores_case_and_empty_is_none():
    t = ticket(recipient="Support@Example.com")
    assert holds("recipient", "is", "support@example.COM", t)
    assert holds("recipient", "is_not", "sales@example.com", t)
    assert holds("recipient", "is", "", ticket())


def test_current_tags():
    t = ticket(tags=("vip", "billing"))
    assert holds("current_tags", "includes", "bug VIP", t)
    assert not holds("current_tags", "includes", "bug feature", t)
    assert holds("current_tags", "not_includes", "bug feature", t)
    assert not holds("current_tags", "not_includes", "bug billing", t)
    assert holds("current_tags", "not_includes", "vip", ticket())


def test_description_includes_word():
    t = ticket(description="My invoice is wrong. Billing, please call!")
    assert holds("description_includes_word", "includes", "refund billing", t)
    assert holds("description_includes_word", "includes", "INVOICE", t)
    assert not holds("description_includes_word", "includes", "bill voice", t)
    assert holds("description_includes_word", "not_includes", "bill refund", t)
    assert not holds("description_includes_word", "not_includes", "call", t)


def test_custom_fields():
    t = ticket(custom_fields={1: "10", 2: "red blue", 3: "2026-03-01", 4: "abc"})
    f = "custom_fields_"
    assert holds(f + "1", "is", "10", t) and holds(f + "1", "is", "10.0", t) and holds(f + "1", "is_not", "9", t)
    assert holds(f + "1", "greater_than", "9", t)  # numbers by value, not as text
    assert holds(f + "1", "less_than", "10.5", t) and not holds(f + "1", "less_than", "10", t)
    assert holds(f + "3", "less_than", "2026-12-31", t) and holds(f + "3", "greater_than", "2026-02-28", t)
    assert holds(f + "4", "less_than", "abd", t)
    assert holds(f + "2", "includes", "green blue", t) and holds(f + "2", "not_includes", "green", t)
    assert not holds(f + "2", "not_includes", "red", t)
    assert holds(f + "4", "present", "", t) and not holds(f + "4", "not_present", "", t)
    missing = f + "9"
    assert holds(missing, "not_present", "", t) and holds(missing, "is", "", t) and holds(missing, "is_not", "x", t)
    assert not any(holds(missing, op, "5", t) for op in ("is", "includes", "less_than", "greater_than", "present"))
    assert holds(missing, "not_includes", "x", t) and not holds(f + "4", "is", "", t)


def test_matches_needs_all_and_one_of_any():
    t = ticket(status="open", priority="high", tags=("vip",))
    all_ = [("status", "is", "open"), ("NEW", "greater_than", "1")]
    assert matches(automation(1, all_), t, NOW, CALENDAR)
    assert matches(automation(1, all_, [("priority", "is", "low"), ("current_tags", "includes", "vip")]),
                   t, NOW, CALENDAR)
    assert not matches(automation(1, all_, [("priority", "is", "low"), ("type", "is", "task")]), t, NOW, CALENDAR)
    assert not matches(automation(1, [*all_, ("priority", "is", "low")]), t, NOW, CALENDAR)


# --- actions ------------------------------------------------------------------------------

def act(t, *actions, now=NOW):
    return apply_actions(t, [Action(*a) for a in actions], now)


def test_field_actions():
    t = ticket(status="open", assignee_id=3, tags=("a", "b"), custom_fields={1: "x"})
    later = NOW + H
    new, changes, notes = act(t, ("status", "pending"), ("type", "task"), ("priority", "urgent"),
                              ("group_id", "9"), ("assignee_id", ""), ("current_tags", "C d"),
                              ("remove_tags", "a"), ("custom_fields_1", ""), ("custom_fields_2", "y"),
                              ("custom_status_id", "5"), ("ticket_form_id", "6"),
                              ("satisfaction_score", "offered"), now=later)
    assert changes == {"status": "pending", "type": "task", "priority": "urgent", "group_id": 9, "assignee_id": None,
                       "tags": ("b", "c", "d"), "custom_fields": ((2, "y"),), "custom_status_id": 5,
                       "ticket_form_id": 6, "satisfaction_score": "offered"}
    assert notes == []
    assert new.assigned_at is None and new.entered("pending") == later and new.updated_at == later
    assert all(getattr(new, k) == v for k, v in changes.items())


def test_set_tags_replaces_and_later_action_wins():
    t = ticket(tags=("a",))
    assert act(t, ("set_tags", "X y"))[1] == {"tags": ("x", "y")}
    assert act(t, ("priority", "low"), ("priority", "high"))[1] == {"priority": "high"}
    assert act(t, ("current_tags", "b"), ("remove_tags", "b"))[1] == {}


def test_an_action_that_changes_nothing_is_no_change():
    t = ticket(status="open", tags=("a",), group_id=9, satisfaction_score="good")
    new, changes, notes = act(t, ("status", "open"), ("current_tags", "a"), ("remove_tags", "zzz"),
                              ("group_id", "9"), ("satisfaction_score", "offered"))
    assert (new, changes, notes) == (t, {}, [])


def test_notifications():
    t = ticket()
    new, changes, notes = act(t, ("notification_user", ["requester_id", "Hi", "Body {{ticket.id}}"]),
                              ("notification_group", ["7", "Group", "G"]), ("notification_target", ["8", "T"]),
                              ("notification_webhook", ["hook-1", "W"]))
    assert new is t and changes == {}
    assert notes == [Notification("user", "requester_id", "Hi", "Body {{ticket.id}}"),
                     Notification("group", "7", "Group", "G"), Notification("target", "8", "", "T"),
                     Notification("webhook", "hook-1", "", "W")]


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="unknown action"):
        act(ticket(), ("explode", "now"))


# --- the sweep cycle ----------------------------------------------------------------------

CLOSE_SOLVED = automation(10, [("status", "is", "solved"), ("SOLVED", "greater_than", "96")], [],
                          [("status", "closed")])


def run(rules, t, now=NOW, already_fired=frozenset()):
    return CompiledRules(rules, CALENDAR).run_cycle(t, now, already_fired)


def test_default_close_rule():
    solved = ticket(status="solved", status_entered_at={"solved": NOW - 97 * H})
    result = run([CLOSE_SOLVED], solved)
    assert result.firings == (Firing(10, {"status": "closed"}, ()),)
    assert result.ticket.status == "closed" and result.ticket.automation_updates == 1
    assert result.ticket.updated_at == NOW
    assert run([CLOSE_SOLVED], replace(solved, status_entered_at=(None,) * 4 + (NOW - 96 * H, None))).firings == ()


def test_position_order_and_later_rules_see_earlier_changes():
    to_pending = automation(1, [("status", "is", "open"), ("NEW", "greater_than", "1")], [], [("status", "pending")],
                            position=2)
    tag_pending = automation(2, [("status", "is", "pending"), ("NEW", "greater_than", "1")], [],
                             [("current_tags", "seen")], position=3)
    reopen = automation(3, [("status", "is", "pending"), ("NEW", "greater_than", "1")], [], [("status", "open")],
                        position=1)
    result = run([tag_pending, to_pending, reopen], ticket(status="open"))
    # position 1 (reopen) did not hold on the open ticket and is not revisited after position 2
    assert [f.automation_id for f in result.firings] == [1, 2]
    assert result.ticket.status == "pending" and result.ticket.tags == ("seen",)


def test_each_automation_fires_at_most_once_per_cycle():
    notify = automation(1, [("status", "is", "open"), ("NEW", "greater_than", "1")], [],
                        [("notification_user", ["requester_id", "s", "b"])])
    result = run([notify], ticket(status="open"))
    assert len(result.firings) == 1
    assert result.ticket.automation_updates == 1
    assert result.ticket.updated_at == NOW - 1000 * H  # a notification alone changes no field
    assert run([notify], ticket(status="open"), already_fired=frozenset({1})).firings == ()


def test_closed_tickets_are_never_touched():
    any_status = automation(1, [("status", "greater_than", "new"), ("NEW", "greater_than", "1")])
    closed = ticket(status="closed")
    assert run([any_status], closed) == run([], closed)
    assert run([any_status], closed).ticket is closed
    # closing mid-cycle stops the cycle
    close = automation(2, [("status", "is", "open"), ("NEW", "greater_than", "1")], [], [("status", "closed")],
                       position=0)
    result = run([close, any_status], ticket(status="open"))
    assert [f.automation_id for f in result.firings] == [2]


def test_update_cap():
    rules = [automation(i, [("status", "is", "open"), ("NEW", "greater_than", "1")], [], [("current_tags", f"t{i}")])
             for i in range(1, 6)]
    assert len(run(rules, ticket(status="open")).firings) == 5
    result = run(rules, replace(ticket(status="open"), automation_updates=MAX_AUTOMATION_UPDATES - 2))
    assert [f.automation_id for f in result.firings] == [1, 2]
    assert result.ticket.automation_updates == MAX_AUTOMATION_UPDATES
    capped = replace(ticket(status="open"), automation_updates=MAX_AUTOMATION_UPDATES)
    assert run(rules, capped).ticket is capped


def test_only_active_sweep_automations_run():
    condition = [("status", "is", "open"), ("NEW", "greater_than", "1")]
    rules = [automation(1, condition, active=False), automation(2, condition, trigger=Trigger.EVENT)]
    assert run(rules, ticket(status="open")).firings == ()


def test_a_match_whose_actions_change_nothing_is_not_a_firing():
    noop = automation(1, [("status", "is", "open"), ("NEW", "greater_than", "1")], [], [("current_tags", "x")])
    t = ticket(status="open", tags=("x",))
    assert run([noop], t).ticket is t


def test_rules_are_rebound_to_each_cycle_instant():
    rules = CompiledRules([CLOSE_SOLVED], CALENDAR)
    solved = ticket(status="solved", status_entered_at={"solved": NOW - 90 * H})
    assert rules.run_cycle(solved, NOW).firings == ()
    assert len(rules.run_cycle(solved, NOW + 7 * H).firings) == 1
    assert rules.run_cycle(solved, NOW).firings == ()


def test_rules_without_a_status_condition_see_every_status():
    by_tag = automation(1, [("current_tags", "includes", "x"), ("NEW", "greater_than", "1")], [],
                        [("remove_tags", "x")])
    for status in ("new", "open", "pending", "hold", "solved"):
        assert len(run([by_tag], ticket(status=status, tags=("x",))).firings) == 1


def test_status_in_any_narrows_the_index_without_losing_matches():
    rule = automation(1, [("NEW", "greater_than", "1")], [("status", "is", "hold"), ("priority", "is", "high")],
                      [("type", "task")])
    assert len(run([rule], ticket(status="hold")).firings) == 1
    assert len(run([rule], ticket(status="open", priority="high")).firings) == 1
    assert run([rule], ticket(status="open")).firings == ()


def test_tags_helper():
    assert normalize_tags("A b  a") == ("a", "b")
