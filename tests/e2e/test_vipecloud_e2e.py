"""End to end over the local runtime: the seed's VipeCloud samples against records made through
/v1, both path families, errors on the wire, concurrent joins, and a fuzz that no input makes a
server error."""
from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.e2e


@pytest.fixture
def vip(local_runtime):
    account = local_runtime.create_account("VipeCloud Co")
    credentials = base64.b64encode(f"{account['email']}:{account['api_key']}".encode()).decode()
    client = local_runtime.as_account({"Authorization": f"Basic {credentials}"})
    account["call"], account["make"] = client.call, client.make
    return account


def test_the_seed_samples_over_http(vip):
    call, make = vip["call"], vip["make"]
    contact_list = make("/v1/contact-lists", {"name": "My contact list"})["id"]
    suite = make("/v1/communities", {"name": "My Community", "suite_type": "community"})["id"]
    email = {"type": "email", "subject": "Hi {{ contact.first_name }}", "html": "<p>Hello</p>"}
    template = make("/v1/templates", {"title": "My email template", **email})["id"]
    welcome = make("/v1/templates", {"title": "Welcome to our community", **email})["id"]
    field = make("/v1/custom-fields", {"name": "Status", "scope": "contact", "type": "dropdown",
                                       "options": ["Active Customer"]})["id"]

    first = call("POST", "/automations", json={"contact_list_id": contact_list, "template_type": "email",
                                                "template_id": template, "trigger_type": "contact", "delay_days": 0,
                                                "delay_hours": 0, "delay_min": 0})
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("application/json")
    assert first.json() == {
        "id": first.json()["id"], "contact_list_id": contact_list, "contact_list_name": "My contact list",
        "template_type": "email", "template_id": template, "template_title": "My email template", "trigger": "contact",
        "delay_days": 0, "delay_hours": 0, "delay_min": 0, "schedule_data": None, "weekday_only": None,
        "item_type": "contact_list"}
    second = call("POST", "/autoresponders", json={"item_type": "suite_party", "suite_party_id": suite,
                                                   "template_type": "email", "template_id": welcome, "delay_days": 0,
                                                   "delay_hours": 1, "delay_min": 0}).json()
    assert second["schedule_data"] == f'{{"suite_party_id":"{suite}","contact_trigger_hours":0}}'
    assert (second["suite_name"], second["suite_type"], second["trigger"]) == ("My Community", "community",
                                                                             "suite_party_joined")
    third = call("POST", "/automations", json={"contact_list_id": contact_list, "template_type": "custom_field",
                                                "action_custom_field_id": field,
                                                "action_custom_field_value": "Active Customer", "trigger_type": "contact",
                                                "delay_days": 0, "delay_hours": 0, "delay_min": 0}).json()
    assert third["automation_data"] == {"custom_field_value": "Active Customer", "field_type": "Dropdown"}
    listed = call("GET", "/automations")
    assert listed.status_code == 200 and listed.json() == [first.json(), second, third]
    assert call("GET", "/autoresponders").json() == listed.json()
    assert call("GET", f"/autoresponders/{second['id']}").json() == second
    updated = call("POST", f"/automations/{first.json()['id']}", json={
        "contact_list_id": contact_list, "template_type": "email", "template_id": template, "trigger": "recurring",
        "day": 15, "hour": 8, "min": 0, "ampm": "am"}).json()
    assert (updated["trigger"], json.loads(updated["schedule_data"])["day"]) == ("recurring", 15)


def test_vipecloud_errors_on_the_wire(vip, local_runtime):
    response = local_runtime.request("GET", "/automations")
    assert (response.status_code, response.json()) == (401, {"status": "error", "message": "Authentication failed"})
    response = vip["call"]("POST", "/automations", data=b"{bad", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["status"] == "error"
    response = vip["call"]("POST", "/automations", data=b'{"x": "' + b"y" * (1024 * 1024 + 10) + b'"}')
    assert response.status_code == 413 and response.json()["status"] == "error"
    response = vip["call"]("GET", "/automations/999999")
    assert (response.status_code, response.json()["message"]) == (422, "Automation not found.")


def test_native_errors_on_the_wire(vip, local_runtime):
    response = local_runtime.request("GET", "/v1/contacts")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    response = vip["call"]("POST", "/v1/contacts", data=b"{bad", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed")
    response = vip["call"]("POST", "/v1/contacts", json={"email": ["a@b.co"]})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid")
    response = vip["call"]("GET", "/v1/contact-lists/12/members")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    response = vip["call"]("PATCH", "/v1/templates/nope", json={"title": "x"})
    assert response.status_code == 404


def test_concurrent_adds_of_one_contact(vip):
    from automations.bootstrap import services

    call, make = vip["call"], vip["make"]
    contact_list = make("/v1/contact-lists", {"name": "Race"})["id"]
    contact = make("/v1/contacts", {"email": "racer@example.com"})["uuid"]
    others = [make("/v1/contacts", {"email": f"other{i}@example.com"})["uuid"] for i in range(3)]
    barrier = threading.Barrier(8)

    def add(i):
        barrier.wait()
        return call("POST", f"/v1/contact-lists/{contact_list}/members",
                    json={"contact_uuids": [contact, others[i % 3]]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(add, range(8)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    added = [u for r in responses for u in r.json()["added"]]
    assert sorted(added) == sorted([contact, *others])  # each joined exactly once
    members = call("GET", f"/v1/contact-lists/{contact_list}/members").json()["members"]
    assert sorted(m["contact_uuid"] for m in members) == sorted([contact, *others])
    logged, _ = services().contact_events.since(vip["account_id"])
    events = [e for e in logged if e.is_join]  # the log also has the contacts' creation
    assert sorted(e.contact_uuid for e in events) == sorted([contact, *others])
    assert {e.event for e in events} == {"list_joined"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 2 ** 60) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([
        "item_type", "contact_list_id", "suite_party_id", "template_type", "template_id", "template_ids",
        "cancel_template_ids", "action_custom_field_id", "action_custom_field_value", "trigger_type", "trigger",
        "delay_days", "delay_hours", "delay_min", "contact_trigger_hours", "contact_trigger_from_hour",
        "contact_trigger_from_min", "contact_trigger_from_ampm", "contact_trigger_to_hour", "day", "hour", "min",
        "ampm", "weekday_only", "recurring_day", "custom_field_id", "email", "phone", "custom_fields", "name",
        "suite_type", "title", "type", "subject", "html", "steps", "contact_uuids", "options", "scope"]),
        inner, max_size=6),
    max_leaves=14)


@pytest.fixture
def fuzz_target(vip):
    """An account with one of everything, so fuzzed ids sometimes point at real records."""
    make = vip["make"]
    make("/v1/contact-lists", {"name": "L"})
    make("/v1/communities", {"name": "C", "suite_type": "party"})
    make("/v1/templates", {"title": "T", "type": "email", "subject": "s", "text": "t"})
    make("/v1/custom-fields", {"name": "F", "scope": "contact", "type": "checkbox"})
    make("/v1/contacts", {"email": "fuzz@example.com"})
    return vip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, method_path=st.sampled_from([
    ("POST", "/automations"), ("POST", "/autoresponders/2"), ("POST", "/automations/1"),
    ("POST", "/v1/contacts"), ("PATCH", "/v1/contacts/3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
    ("POST", "/v1/templates"), ("PATCH", "/v1/templates/1"), ("POST", "/v1/custom-fields"),
    ("POST", "/v1/communities"), ("POST", "/v1/contact-lists/1/members"), ("PATCH", "/v1/contact-lists/1")]))
def test_no_input_produces_a_server_error(fuzz_target, body, method_path):
    method, path = method_path
    response = fuzz_target["call"](method, path, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:  # each surface's own error format
        assert set(response.json()) == ({"error"} if path.startswith("/v1") else {"status", "message"})
