"""Event names (Piggy's and the host's own) and the invariant of stored event and manual
automations."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from automations.domain import event_rules, timing
from automations.domain.contact_rules import ClockTime, Delay, SendWindow
from automations.domain.events import PIGGY_EVENTS, check_event_name, is_piggy_event
from automations.domain.model import Action, Automation, Condition, Conditions, SubjectKind, Trigger
from automations.errors import Problems

NOW = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)


def event_problems(name):
    problems = Problems()
    check_event_name(name, problems)
    return [e.message for e in problems.errors]


@pytest.mark.parametrize("name", [*PIGGY_EVENTS, "shop.order_placed", "a.b", "Shop.Order-Placed_2", "x." + "y" * 98])
def test_known_names(name):
    assert event_problems(name) == []


@pytest.mark.parametrize("name, says", [
    ("contact_deleted", "is not a Piggy event"), ("order_placed", "have a dot in their name"),
    ("shop.order placed", "letters, digits"), ("shop.x" + "y" * 95, "1 to 100"), ("shop.ordér", "letters"),
    ("shop.x\n", "letters"), ("", "must be an event name"), (None, "must be an event name"), (5, "must be"),
])
def test_refused_names(name, says):
    found = event_problems(name)
    assert len(found) == 1 and says in found[0]


def test_piggy_kind():
    assert is_piggy_event("contact_updated") and not is_piggy_event("shop.order_placed")
    assert len(PIGGY_EVENTS) == 13


def automation(trigger=Trigger.EVENT, **changes):
    config = event_rules.trigger_config("contact_updated" if trigger == Trigger.EVENT else None,
                                        Delay(hours=2), SendWindow(ClockTime(9 * 60), ClockTime(17 * 60)))
    base = Automation(account_id="acc", id=1, uuid="u", title="Welcome", active=True, position=1,
                      subject=SubjectKind.CONTACT, trigger=trigger,
                      conditions=Conditions(all=(Condition("data.total", "greater_than", "5"),)),
                      actions=(Action("send_email", {"template_id": 4}),
                               Action("webhook", {"webhook_id": "wh_1", "body": "{{ contact.email }}"}),
                               Action("emit_event", {"detail_type": "welcomed",
                                                     "detail": {"who": "{{contact.uuid}}"}})),
                      created_at=NOW, updated_at=NOW, trigger_config=config)
    return replace(base, **changes)


def problems_of(a):
    problems = Problems()
    event_rules.validate_event_rule(a, problems)
    return [(e.field, e.message) for e in problems.errors]


def test_stored_shapes_and_schedule():
    event, manual = automation(), automation(Trigger.MANUAL)
    assert event.trigger_config == {"event": "contact_updated", "delay": {"days": 0, "hours": 2, "minutes": 0},
                                    "window": {"from": "09:00", "to": "17:00"}}
    assert set(manual.trigger_config) == {"delay", "window"}
    assert problems_of(event) == [] and problems_of(manual) == []
    assert timing.delay_and_window(event) == (Delay(hours=2), SendWindow(ClockTime(540), ClockTime(1020)))
    assert event_rules.event_of(event) == "contact_updated" and event_rules.event_of(manual) is None


@pytest.mark.parametrize("changes, field", [
    ({"subject": SubjectKind.TICKET}, "base"),
    ({"title": "  "}, "title"),
    ({"trigger_config": {"delay": {"days": 0, "hours": 0, "minutes": 0}, "window": None}}, "trigger_config"),
    ({"trigger_config": {"event": "nope", "delay": {"days": 0, "hours": 0, "minutes": 0}, "window": None}},
     "trigger_config.event"),
    ({"trigger_config": {"event": "a.b", "delay": {"days": 366, "hours": 0, "minutes": 0}, "window": None}},
     "trigger_config.delay"),
    ({"trigger_config": {"event": "a.b", "delay": {"days": -1, "hours": 0, "minutes": 0}, "window": None}},
     "trigger_config.delay"),
    ({"trigger_config": {"event": "a.b", "delay": {"days": 0}, "window": None}}, "trigger_config.delay"),
    ({"trigger_config": {"event": "a.b", "delay": {"days": 0, "hours": 0, "minutes": 0},
                         "window": {"from": "09:00", "to": "09:00"}}}, "trigger_config.window"),
    ({"trigger_config": {"event": "a.b", "delay": {"days": 0, "hours": 0, "minutes": 0},
                         "window": {"from": "9am"}}}, "trigger_config.window"),
    ({"conditions": Conditions(any=(Condition("nickname", "is", "x"),))}, "conditions.any.0"),
    ({"actions": ()}, "actions"),
    ({"actions": (Action("send_email", {"template_id": 1}),) * 26}, "actions"),
    ({"actions": (Action("issue_credits", {"amount": 5}),)}, "actions.0"),
    ({"actions": (Action("send_email", {"template_id": 0}),)}, "actions.0"),
    ({"actions": (Action("send_email", 4),)}, "actions.0"),
    ({"actions": (Action("cancel_text", {"template_ids": []}),)}, "actions.0"),
    ({"actions": (Action("set_custom_field", {"custom_field_id": 7, "value": None}),)}, "actions.0"),
    ({"actions": (Action("webhook", {"webhook_id": ""}),)}, "actions.0"),
    ({"actions": (Action("emit_event", {"detail_type": "x", "detail": "text"}),)}, "actions.0"),
    ({"title": "x" * 70_000}, "base"),
])
def test_invalid_rules(changes, field):
    assert field in [f for f, _ in problems_of(automation(**changes))]


def test_liquid_sources():
    event = automation()
    assert event_rules.liquid_sources(event.actions[0]) == []
    assert event_rules.liquid_sources(event.actions[1]) == [("body", "{{ contact.email }}")]
    nested = Action("emit_event", {"detail_type": "t", "detail": {"a": ["x", {"b": "y"}], "n": 5}})
    assert event_rules.liquid_sources(nested) == [("detail.a.0", "x"), ("detail.a.1.b", "y")]
