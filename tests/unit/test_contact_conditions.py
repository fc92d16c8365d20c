"""Conditions over a contact (event and manual automations): every field kind and operator, the
comparisons of numbers and ISO dates, and the checks of a definition."""
from datetime import datetime, timezone

import pytest

from automations.domain.contact_conditions import check_conditions, matches
from automations.domain.contacts import Contact
from automations.domain.model import Condition, Conditions
from automations.errors import Problems

NOW = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)


def contact(**values):
    base = {"email": "ada@example.com", "phone": "+442079460958", "first_name": "Ada", "last_name": None,
            "timezone": "Europe/London",
            "custom_fields": {"7": 42, "8": "2026-03-01", "9": True, "10": ["Lead", "VIP"]}}
    return Contact(account_id="acc", uuid="3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", created_at=NOW, updated_at=NOW,
                   **{**base, **values})


def holds(field, operator, value=None, data=None, who=None):
    return matches(Conditions(all=(Condition(field, operator, value),)), who or contact(), data)


@pytest.mark.parametrize("field, operator, value, expected", [
    ("email", "is", "ADA@example.com", True),  # text ignores case
    ("email", "is_not", "bob@example.com", True),
    ("first_name", "contains", "d", True),
    ("first_name", "not_contains", "x", True),
    ("last_name", "present", None, False),
    ("last_name", "not_present", None, True),
    ("last_name", "is_not", "Byron", True),  # nothing missing equals anything
    ("last_name", "is", "Byron", False),
    ("last_name", "not_contains", "B", True),
    ("last_name", "greater_than", "1", False),
    ("timezone", "is", "Europe/London", True),
    ("phone", "contains", "2079", True),
    ("custom_fields.7", "is", "42.0", True),  # numbers by value
    ("custom_fields.7", "greater_than", "41.5", True),
    ("custom_fields.7", "less_than", 42, False),
    ("custom_fields.8", "greater_than", "2026-02-28", True),  # ISO dates as dates
    ("custom_fields.8", "less_than", "2026-03-01T00:00:01Z", True),
    ("custom_fields.8", "is", "2026-03-01T00:00:00+00:00", True),
    ("custom_fields.9", "is", True, True),
    ("custom_fields.9", "is", "true", True),
    ("custom_fields.9", "is", False, False),
    ("custom_fields.10", "is", "vip", True),  # a multi-select is a value when one item is
    ("custom_fields.10", "contains", "Lead", True),
    ("custom_fields.10", "not_contains", "Customer", True),
    ("custom_fields.11", "present", None, False),
    ("first_name", "greater_than", "5", False),  # text is neither greater nor less than a number
])
def test_contact_fields(field, operator, value, expected):
    assert holds(field, operator, value) is expected


@pytest.mark.parametrize("field, operator, value, data, expected", [
    ("data.total", "greater_than", "99.5", {"total": 100}, True),
    ("data.total", "less_than", 100, {"total": "99"}, True),
    ("data.order.id", "is", "A-1", {"order": {"id": "a-1"}}, True),
    ("data.items.1", "is", "b", {"items": ["a", "b"]}, True),
    ("data.items.5", "present", None, {"items": ["a"]}, False),
    ("data.code", "present", None, {"code": ""}, False),
    ("data.code", "present", None, None, False),  # a run without data
    ("data.code", "not_present", None, ["a", "b"], True),  # data given as a list
    ("data.at", "greater_than", "2026-11-01", {"at": "2026-11-22T09:00:00+01:00"}, True),
    ("data.at", "less_than", "2026-11-01", {"at": "not a date"}, False),
])
def test_data_fields(field, operator, value, data, expected):
    assert holds(field, operator, value, data) is expected


def test_all_and_any():
    yes, no = Condition("first_name", "is", "Ada"), Condition("first_name", "is", "Bob")
    assert matches(Conditions(), contact(), None)
    assert matches(Conditions(all=(yes,), any=(no, yes)), contact(), None)
    assert not matches(Conditions(all=(yes, no)), contact(), None)
    assert not matches(Conditions(all=(yes,), any=(no,)), contact(), None)


def problems_of(*conditions, group="all"):
    problems = Problems()
    check_conditions(Conditions(**{group: conditions}), problems)
    return [(e.field, e.message) for e in problems.errors]


def test_valid_definitions_have_no_problems():
    assert problems_of(Condition("email", "present", None), Condition("custom_fields.7", "greater_than", "5"),
                       Condition("data.order.total", "less_than", 10.5), Condition("data.at", "greater_than",
                                                                                   "2026-01-31")) == []


@pytest.mark.parametrize("condition, says", [
    (Condition("nickname", "is", "x"), 'unknown field "nickname"'),
    (Condition("custom_fields.abc", "is", "x"), 'unknown field "custom_fields.abc"'),
    (Condition("custom_fields.0", "is", "x"), 'unknown field'),
    (Condition("data.", "is", "x"), 'unknown field "data."'),
    (Condition("data.a b", "is", "x"), "unknown field"),
    (Condition("email\n", "is", "x"), "unknown field"),
    (Condition(5, "is", "x"), "the field must be a name"),
    (Condition("email", "equals", "x"), 'unknown operator "equals"'),
    (Condition("email", "is", None), "is needs a text, number or true/false value"),
    (Condition("email", "contains", ""), "contains needs"),
    (Condition("email", "is", ["a"]), "is needs"),
    (Condition("data.n", "greater_than", "soon"), "greater_than needs a number or an ISO date"),
])
def test_bad_definitions_are_named(condition, says):
    found = problems_of(condition, group="any")
    assert len(found) == 1 and found[0][0] == "conditions.any.0" and says in found[0][1], found


def test_too_many_conditions():
    assert problems_of(*[Condition("email", "present", None)] * 51) == [
        ("conditions.all", 'Conditions: at most 50 in "all"')]
