"""The contact side of the domain, pure: normalisers, custom field values, templates, contact
rules (times, delays, windows, recurrence) and the shape of contact events."""
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, strategies as st

from automations.domain import contact_rules as rules
from automations.domain.contact_rules import ActionKind, ClockTime, ContactRule, Recurrence, RuleAction, SendWindow
from automations.domain.contacts import (
    CustomField, FieldScope, FieldType, GroupKind, SeriesStep, Template, TemplateType, check_contact,
    check_custom_field, check_template, is_timezone, is_uuid, normalize_phone,
)
from automations.domain.model import Automation, Condition, Conditions, SubjectKind, Trigger
from automations.domain.person import normalize_email
from automations.errors import Problems, ValidationFailed
from automations.domain import contact_events as events

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)


def field(type_, options=(), scope=FieldScope.CONTACT, field_id=7):
    return CustomField(account_id="acc", id=field_id, name="f", scope=scope, type=type_, options=tuple(options),
                       created_at=NOW, updated_at=NOW)


# -- contacts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("Ada@Example.COM", "ada@example.com"),
    ("  first.last+tag@sub.example.co.uk ", "first.last+tag@sub.example.co.uk"),
    ("no-at-sign", None), ("a@b", None), ("a b@example.com", None), ("a..b@example.com", None),
    (".a@example.com", None), ("a@-example.com", None), ("x" * 250 + "@example.com", None),
])
def test_emails_are_validated_and_lower_cased(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("+31 6 1234 5678", "+31612345678"), ("+1 (415) 555-0100", "+14155550100"), ("44.20.7946.0958", "+442079460958"),
    ("31612345678", "+31612345678"), ("+1234567", None), ("+1234567890123456", None), ("+0612345678", None),
    ("06-1234-5678", None), ("+31 6 12ab 5678", None), ("++31612345678", None), ("", None), ("+٣١٦١٢٣٤٥٦٧٨", None),
])
def test_phones_are_normalised_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@given(st.text(max_size=30))
def test_the_phone_normaliser_only_answers_e164(text):
    result = normalize_phone(text)
    assert result is None or (result[0] == "+" and result[1:].isdigit() and 8 <= len(result) - 1 <= 15
                              and result[1] != "0")


def test_a_contact_needs_a_way_to_reach_it_and_valid_attributes():
    problems = Problems()
    check_contact({"timezone": "Mars/Olympus", "first_name": 5}, {}, problems)
    fields = {e.field for e in problems.errors}
    assert fields == {"base", "timezone", "first_name"}
    assert is_timezone("Europe/Amsterdam") and not is_timezone("europe/amsterdam")


def test_contact_custom_field_values_follow_the_field_type():
    fields = {"1": field(FieldType.NUMBER, field_id=1), "2": field(FieldType.CHECKBOX, field_id=2),
              "3": field(FieldType.TEXT, scope=FieldScope.OTHER, field_id=3)}
    problems = Problems()
    clean = check_contact({"email": "a@b.co", "custom_fields": {"1": "42", "2": "true", "3": "x", "9": "y",
                                                                  "5": None}}, fields, problems)
    assert clean["custom_fields"] == {"1": 42, "2": True, "5": None}
    assert {e.field for e in problems.errors} == {"custom_fields.3", "custom_fields.9"}


@pytest.mark.parametrize("type_, options, value, expected", [
    (FieldType.TEXT, (), "hello", "hello"), (FieldType.TEXT, (), 5, None),
    (FieldType.NUMBER, (), 2.5, 2.5), (FieldType.NUMBER, (), "7", 7), (FieldType.NUMBER, (), True, None),
    (FieldType.NUMBER, (), "nan", None), (FieldType.NUMBER, (), "x", None),
    (FieldType.DATE, (), "2026-02-28", "2026-02-28"), (FieldType.DATE, (), "2026-02-30", None),
    (FieldType.DATE, (), "28/02/2026", None),
    (FieldType.CHECKBOX, (), True, True), (FieldType.CHECKBOX, (), "false", False), (FieldType.CHECKBOX, (), "yes", None),
    (FieldType.CHECKBOX, (), "True", None),
    (FieldType.DROPDOWN, ("Lead", "Customer"), "Lead", "Lead"), (FieldType.DROPDOWN, ("Lead",), "lead", None),
    (FieldType.DROPDOWN, ("Lead", "Customer"), ["Lead", "Customer", "Lead"], ["Lead", "Customer"]),
    (FieldType.DROPDOWN, ("Lead",), [], None), (FieldType.DROPDOWN, ("Lead",), {"x": 1}, None),
])
def test_custom_field_values(type_, options, value, expected):
    normalized, reason = field(type_, options).check_value(value)
    assert (normalized, reason is None) == (expected, expected is not None)


@pytest.mark.parametrize("scope, type_, options, problem", [
    ("contact", "dropdown", ["a", "b"], None),
    ("contact", "dropdown", None, "options"), ("contact", "dropdown", ["a", "a"], "options"),
    ("contact", "text", ["a"], "options"), ("company", "text", None, "scope"), ("contact", "list", None, "type"),
])
def test_custom_field_definitions(scope, type_, options, problem):
    problems = Problems()
    check_custom_field("Status", scope, type_, options, problems)
    assert [e.field for e in problems.errors] == ([problem] if problem else [])


def template(type_, **values):
    return Template(account_id="acc", id=1, title=values.pop("title", "T"), type=type_, created_at=NOW,
                    updated_at=NOW, **values)


@pytest.mark.parametrize("t, fields", [
    (template(TemplateType.EMAIL, subject="Hi", html="<p>x</p>"), set()),
    (template(TemplateType.EMAIL, subject="Hi", text="x"), set()),
    (template(TemplateType.EMAIL, subject=" ", html="x"), {"subject"}),
    (template(TemplateType.EMAIL, subject="Hi"), {"base"}),
    (template(TemplateType.EMAIL, subject="Hi", html="x", body="y"), {"body"}),
    (template(TemplateType.TEXT, body="Hi"), set()),
    (template(TemplateType.TEXT, body=""), {"body"}),
    (template(TemplateType.TEXT, body="x" * 100_001), {"body"}),
    (template(TemplateType.SERIES, steps=()), {"steps"}),
    (template(TemplateType.SERIES, steps=(SeriesStep(1, 366),)), {"steps.0.delay_days"}),
    (template(TemplateType.SERIES, steps=(SeriesStep(1, 1, hour=9),)), {"steps.0"}),
    (template(TemplateType.SERIES, steps=(SeriesStep(1, 1, 13, 0, "am"), SeriesStep(1, 0, 1, 60, "xm"))),
     {"steps.0.hour", "steps.1.min", "steps.1.ampm"}),
    (template(TemplateType.SERIES, title="", steps=(SeriesStep(1),)), {"title"}),
])
def test_templates(t, fields):
    problems = Problems()
    check_template(t, problems)
    assert {e.field for e in problems.errors} == fields


def test_uuids():
    assert is_uuid("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
    assert not is_uuid("3F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F") and not is_uuid("x") and not is_uuid(5)


# -- contact rules -------------------------------------------------------------------------------
@pytest.mark.parametrize("hour, minute, ampm, text", [
    (12, 0, "am", "00:00"), (12, 30, "pm", "12:30"), (1, 5, "am", "01:05"), (11, 59, "pm", "23:59"), (9, 0, "am", "09:00"),
])
def test_twelve_hour_clock(hour, minute, ampm, text):
    at = ClockTime.from_12h(hour, minute, ampm)
    assert at.text == text and at.to_12h() == (hour, minute, ampm) and ClockTime.parse(text) == at


@pytest.mark.parametrize("hour, minute, ampm, message", [
    (0, 0, "am", "hour must be a whole number from 1 to 12."), (13, 0, "am", "hour must be a whole number from 1 to 12."),
    ("9.5", 0, "am", "hour must be a whole number from 1 to 12."), (True, 0, "am", "hour must be a whole number from 1 to 12."),
    (9, 60, "am", "min must be a whole number from 0 to 59."), (9, -1, "am", "min must be a whole number from 0 to 59."),
    (9, 0, "noon", "ampm must be am or pm."), (9, 0, None, "ampm must be am or pm."),
])
def test_clock_times_are_checked(hour, minute, ampm, message):
    with pytest.raises(ValidationFailed) as caught:
        rules.read_clock_time(hour, minute, ampm, ("hour", "min", "ampm"))
    assert caught.value.message == message


def test_strings_of_digits_are_numbers():
    assert rules.read_clock_time("9", "05", " PM ", ("h", "m", "a")) == ClockTime(21 * 60 + 5)


def test_delays_are_non_negative_and_bounded():
    labels = ("delay_days", "delay_hours", "delay_min")
    assert rules.read_delay(None, "", 5, labels).total.total_seconds() == 300
    assert rules.read_delay(365, 0, 0, labels).days == 365
    assert rules.read_delay(0, 48, 90, labels).hours == 48  # parts may exceed their unit
    for bad in [(-1, 0, 0), (0, 1.5, 0), ("x", 0, 0), (0, 0, True)]:
        with pytest.raises(ValidationFailed, match="must be whole numbers of 0 or more"):
            rules.read_delay(*bad, labels)
    with pytest.raises(ValidationFailed, match="must not be longer than 365 days"):
        rules.read_delay(365, 0, 1, labels)


def test_send_windows_may_cross_midnight():
    day = SendWindow(ClockTime(9 * 60), ClockTime(17 * 60))
    night = SendWindow(ClockTime(22 * 60), ClockTime(6 * 60))
    assert day.admits(ClockTime(9 * 60)) and not day.admits(ClockTime(17 * 60)) and not day.admits(ClockTime(0))
    assert night.admits(ClockTime(23 * 60)) and night.admits(ClockTime(0)) and not night.admits(ClockTime(12 * 60))
    with pytest.raises(ValidationFailed, match="must not start and end at the same time"):
        rules.read_window(ClockTime(60), ClockTime(60))


@pytest.mark.parametrize("raw, day", [
    ("daily", "daily"), ("Monday", "monday"), ("sat", "saturday"), (15, 15), ("31", 31), ("1", 1),
])
def test_recurring_days(raw, day):
    assert rules.read_day(raw) == day


@pytest.mark.parametrize("raw", [0, "0", 32, "funday", None, [], 2.5])
def test_recurring_days_refused(raw):
    with pytest.raises(ValidationFailed, match="must be daily, a weekday name"):
        rules.read_day(raw)


def test_what_a_recurring_day_means():
    at = ClockTime(9 * 60)
    monthly_31 = Recurrence(31, at)
    assert monthly_31.occurs_on(date(2026, 2, 28)) and monthly_31.occurs_on(date(2026, 4, 30))  # last day
    assert not monthly_31.occurs_on(date(2026, 5, 30)) and monthly_31.occurs_on(date(2026, 5, 31))
    assert Recurrence(29, at).occurs_on(date(2028, 2, 29)) and not Recurrence(29, at).occurs_on(date(2028, 2, 28))
    assert Recurrence("monday", at).occurs_on(date(2026, 11, 23)) and not Recurrence("monday", at).occurs_on(date(2026, 11, 24))
    assert Recurrence("sunday", at).occurs_on(date(2026, 11, 22))
    weekdays = Recurrence("daily", at, weekday_only=True)
    assert [weekdays.occurs_on(date(2026, 11, d)) for d in range(21, 28)] == [False, False, True, True, True, True, True]
    assert not Recurrence(1, at, weekday_only=True).occurs_on(date(2026, 11, 1))  # a Sunday: skipped
    with pytest.raises(ValidationFailed, match="weekday_only cannot be used"):
        rules.read_recurrence("saturday", at, True)


def test_flags():
    assert all(rules.flag(v) for v in ("on", "1", 1, True, "true", " ON "))
    assert not any(rules.flag(v) for v in ("off", "0", 0, False, None, "", [], 2))


def rule(**changes):
    base = dict(trigger=Trigger.LIST_JOINED, source_kind=GroupKind.LIST, source_id=3,
                action=RuleAction(ActionKind.SEND_EMAIL, template_id=4))
    return ContactRule(**{**base, **changes})


def stored(r: ContactRule, **changes) -> Automation:
    d = r.draft()
    fields = dict(account_id="acc", id=9, uuid="u", title=d.title, active=True, position=1, subject=d.subject,
                  trigger=d.trigger, conditions=d.conditions, actions=d.actions, created_at=NOW, updated_at=NOW,
                  trigger_config=d.trigger_config)
    return Automation(**{**fields, **changes})


@pytest.mark.parametrize("r", [
    rule(),
    rule(window=SendWindow(ClockTime(22 * 60), ClockTime(6 * 60)), delay=rules.Delay(1, 2, 3)),
    rule(trigger=Trigger.COMMUNITY_JOINED, source_kind=GroupKind.COMMUNITY,
         action=RuleAction(ActionKind.CANCEL_SERIES, template_ids=(1, 2))),
    rule(trigger=Trigger.RECURRING, recurrence=Recurrence(15, ClockTime(600), True),
         action=RuleAction(ActionKind.SET_CUSTOM_FIELD, custom_field_id=2, value=True)),
    rule(trigger=Trigger.DATE_FIELD, date_field=rules.DateFieldTrigger(5, ClockTime(540)),
         action=RuleAction(ActionKind.START_SERIES, template_id=8)),
])
def test_rules_round_trip_through_an_automation_and_are_valid(r):
    automation = stored(r)
    assert ContactRule.from_automation(automation) == r
    problems = Problems()
    rules.validate_contact_rule(automation, problems)
    assert problems.errors == []
    assert automation.subject == SubjectKind.CONTACT and set(automation.trigger_config) == {
        "source", "delay", "window", "recurrence", "date_field"}


@pytest.mark.parametrize("automation, fragment", [
    (stored(rule(), subject=SubjectKind.TICKET), "applies to contacts"),
    (stored(rule(), title=" "), "Title"),
    (stored(rule(), conditions=Conditions(all=(Condition("status", "is", "open"),))), "take no conditions"),
    (stored(rule(), trigger_config={}), "Not a valid contact automation"),
    (stored(rule(), actions=()), "Not a valid contact automation"),
    (stored(rule(source_kind=GroupKind.COMMUNITY)), "source must be a list"),
    (stored(rule(trigger=Trigger.COMMUNITY_JOINED)), "source must be a community"),
    (stored(rule(source_id=0)), "positive id"),
    (stored(rule(action=RuleAction(ActionKind.SEND_TEXT))), "needs a template id"),
    (stored(rule(action=RuleAction(ActionKind.CANCEL_EMAIL, template_ids=()))), "1 to 100 template ids"),
    (stored(rule(action=RuleAction(ActionKind.SET_CUSTOM_FIELD, custom_field_id=1))), "needs a custom field id"),
    (stored(rule(delay=rules.Delay(366))), "at most 365 days"),
    (stored(rule(trigger=Trigger.RECURRING)), "only they, have a recurrence"),
    (stored(rule(recurrence=Recurrence("daily", ClockTime(0)))), "only they, have a recurrence"),
    (stored(rule(trigger=Trigger.RECURRING, recurrence=Recurrence("sunday", ClockTime(0), True))), "weekday_only"),
    (stored(rule(trigger=Trigger.DATE_FIELD)), "name a date field"),
])
def test_stored_rules_keep_their_invariant(automation, fragment):
    problems = Problems()
    rules.validate_contact_rule(automation, problems)
    assert fragment in " | ".join(e.message for e in problems.errors)


def test_identical_rules_have_identical_fingerprints():
    assert stored(rule()).fingerprint() == stored(rule()).fingerprint()
    assert stored(rule()).fingerprint() != stored(rule(delay=rules.Delay(minutes=1))).fingerprint()


# -- contact events ------------------------------------------------------------------------------
def test_join_events_have_one_shape_and_deterministic_ids():
    event = events.joined("acc", GroupKind.LIST, 3, "u-1", NOW)
    assert event.to_dict() == {"event": "list_joined", "account_id": "acc", "contact_uuid": "u-1", "list_id": 3,
                               "occurred_at": "2026-11-22T09:00:00.000000Z", "id": event.id}
    assert events.ContactEvent.from_dict(event.to_dict()) == event
    assert events.joined("acc", GroupKind.LIST, 3, "u-1", NOW).id == event.id
    assert events.joined("acc", GroupKind.COMMUNITY, 3, "u-1", NOW).to_dict()["community_id"] == 3
    later = events.joined("acc", GroupKind.LIST, 3, "u-1", NOW.replace(microsecond=1))
    assert later.id != event.id  # joining again after leaving is another event
