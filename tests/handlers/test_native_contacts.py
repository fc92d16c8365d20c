"""The native /v1 contact-side handlers, driven by the sample events in events/native_*.json and
by built events: status codes, shapes and the native error format."""
import copy
import json

import pytest
from native_answers import error_code, with_request
from support import http_event, invoke, sample_event

UUID_IN_SAMPLES = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def run(function, name, auth, *, uuid=None, **request):
    """Invoke ``function`` with events/<name>.json, its contact uuid replaced by ``uuid``."""
    event = sample_event(name)
    if uuid:
        event = json.loads(json.dumps(event).replace(UUID_IN_SAMPLES, uuid))
    return invoke(function, with_request(event, auth, **request))


@pytest.fixture
def auth(account):
    return account[2]


@pytest.fixture
def contact(auth):
    status, _, body = run("contacts_create", "native_contacts_create", auth)
    assert status == 201
    return body


class TestContacts:
    def test_samples(self, auth, contact):
        assert contact["email"] == "ada.lovelace@example.com" and contact["phone"] == "+442079460958"
        assert contact["custom_fields"] == {} and contact["created_at"].endswith("Z")
        assert set(contact) == {"uuid", "email", "phone", "first_name", "last_name", "timezone", "custom_fields",
                                "created_at", "updated_at"}
        uuid = contact["uuid"]
        assert run("contacts_get", "native_contacts_get", auth, uuid=uuid)[2] == contact
        status, _, page = run("contacts_list", "native_contacts_list", auth)
        assert status == 200 and page == {"contacts": [contact], "next_cursor": None}
        assert run("contacts_list", "native_contacts_lookup_by_email", auth)[2]["contacts"] == [contact]
        assert run("contacts_list", "native_contacts_list", auth, query={"email": "nobody@example.com"})[2] == {
            "contacts": [], "next_cursor": None}
        status, _, updated = run("contacts_update", "native_contacts_update", auth, uuid=uuid)
        assert status == 200 and updated["first_name"] == "Augusta Ada" and updated["phone"] is None
        assert updated["email"] == contact["email"] and updated["updated_at"] >= contact["updated_at"]
        assert run("contacts_delete", "native_contacts_delete", auth, uuid=uuid)[0] == 204
        status, _, body = run("contacts_get", "native_contacts_get", auth, uuid=uuid)
        assert status == 404 and error_code(body) == "not_found"

    def test_duplicate_email_is_a_conflict(self, auth, contact):
        status, _, body = run("contacts_create", "native_contacts_create", auth, body={"email": "ADA.lovelace@example.com"})
        assert status == 409 and error_code(body) == "conflict"

    def test_a_changed_email_is_free_for_another_contact(self, auth, contact):
        """The update releases the old address (a delete in the contact's own transaction)."""
        status, _, moved = run("contacts_update", "native_contacts_update", auth, uuid=contact["uuid"],
                               body={"email": "countess@example.com"})
        assert status == 200 and moved["email"] == "countess@example.com"
        status, _, body = run("contacts_create", "native_contacts_create", auth, body={"email": contact["email"]})
        assert status == 201, body

    def test_a_changed_time_zone_queues_the_re_plan_of_the_contacts_waiting_runs(self, account, auth, contact):
        """Through the function and its role: only a change of the zone queues the re-plan."""
        import boto3

        from automations import config

        def queued():
            messages = boto3.client("sqs").receive_message(QueueUrl=config.expand_queue_url(),
                                                           MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"]) for m in messages]

        assert run("contacts_update", "native_contacts_update", auth, uuid=contact["uuid"],
                   body={"first_name": "Ada"})[0] == 200 and queued() == []
        status, _, moved = run("contacts_update", "native_contacts_update", auth, uuid=contact["uuid"],
                               body={"timezone": "Asia/Tokyo"})
        assert status == 200 and moved["timezone"] == "Asia/Tokyo"
        assert queued() == [{"account_id": account[0].id, "contact_uuid": contact["uuid"], "replan": True}]

    @pytest.mark.parametrize("body, field", [
        ({"email": "not-an-email"}, "email"), ({"phone": "12"}, "phone"), ({"email": "a@b.co", "timezone": "Mars/Base"}, "timezone"),
        ({"email": "a@b.co", "custom_fields": {"1": "x"}}, "custom_fields.1"), ({}, "base"),
    ])
    def test_invalid_contacts(self, auth, body, field):
        status, _, answer = run("contacts_create", "native_contacts_create", auth, body=body)
        assert status == 422 and error_code(answer) == "invalid"
        assert field in [d["field"] for d in answer["error"]["details"]]

    @pytest.mark.parametrize("raw, status, code", [
        ("{bad json", 400, "malformed"), ('{"email": 5}', 422, "invalid"), ('["a@b.co"]', 422, "invalid"),
        ('{"email": "a@b.co", "nickname": "x"}', 422, "invalid"), ('{"custom_fields": {"1": "' + "x" * (1024 * 1024) + '"}}', 413, "too_large"),
    ])
    def test_bad_bodies(self, auth, raw, status, code):
        got, _, body = run("contacts_create", "native_contacts_create", auth, raw_body=raw)
        assert (got, error_code(body)) == (status, code)

    def test_bad_paging(self, auth, contact):
        for query in ({"limit": "0"}, {"limit": "x"}, {"limit": "101"}):
            assert run("contacts_list", "native_contacts_list", auth, query=query)[0] == 422
        status, _, body = run("contacts_list", "native_contacts_list", auth, query={"cursor": "garbage!"})
        assert status == 400 and error_code(body) == "malformed"

    def test_unauthenticated(self, contact):
        event = sample_event("native_contacts_list")
        event["headers"].pop("authorization")
        status, _, body = invoke("contacts_list", event)
        assert status == 401 and error_code(body) == "unauthenticated"

    def test_another_accounts_contact_is_not_found(self, auth, contact):
        from automations.bootstrap import services
        from support import basic_auth

        acct, key = services().accounts.create_account("Other", "other@example.test")
        other = basic_auth(acct.email, key)
        for function, name in (("contacts_get", "native_contacts_get"), ("contacts_update", "native_contacts_update"),
                               ("contacts_delete", "native_contacts_delete")):
            status, _, body = run(function, name, other, uuid=contact["uuid"])
            assert status == 404 and error_code(body) == "not_found"
        assert run("contacts_list", "native_contacts_lookup_by_email", other)[2]["contacts"] == []


GROUPS = [
    ("contact_lists", "contact_lists", {"name": "My contact list"}, "name", "Newsletter"),
    ("communities", "communities", {"name": "My Community", "suite_type": "community"}, "suite_type", "party"),
]


@pytest.mark.parametrize("prefix, plural, created, changed, value", GROUPS)
def test_groups_and_membership(auth, contact, prefix, plural, created, changed, value):
    status, _, group = run(f"{prefix}_create", f"native_{prefix}_create", auth)
    assert status == 201 and group["id"] == 1 and {k: group[k] for k in created} == created
    assert run(f"{prefix}_get", f"native_{prefix}_get", auth)[2] == group
    assert run(f"{prefix}_list", f"native_{prefix}_list", auth)[2] == {plural: [group], "next_cursor": None}
    status, _, updated = run(f"{prefix}_update", f"native_{prefix}_update", auth)
    assert status == 200 and updated[changed] == value

    uuid = contact["uuid"]
    status, _, added = run(f"{prefix}_members_add", f"native_{prefix}_members_add", auth, uuid=uuid)
    assert status == 200 and added == {"added": [uuid], "already_members": [], "not_found": []}
    _, _, again = run(f"{prefix}_members_add", f"native_{prefix}_members_add", auth,
                      body={"contact_uuids": [uuid, uuid, "9f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]})
    assert again == {"added": [], "already_members": [uuid], "not_found": ["9f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]}
    status, _, page = run(f"{prefix}_members_list", f"native_{prefix}_members_list", auth)
    assert status == 200 and [m["contact_uuid"] for m in page["members"]] == [uuid] and page["next_cursor"] is None
    assert run(f"{prefix}_members_remove", f"native_{prefix}_members_remove", auth, uuid=uuid)[0] == 204
    status, _, body = run(f"{prefix}_members_remove", f"native_{prefix}_members_remove", auth, uuid=uuid)
    assert status == 404 and error_code(body) == "not_found"

    for bad in ({"contact_uuids": []}, {"contact_uuids": ["x"] * 1001}, {"contact_uuids": "x"}, {}):
        assert run(f"{prefix}_members_add", f"native_{prefix}_members_add", auth, body=bad)[0] == 422

    assert run(f"{prefix}_delete", f"native_{prefix}_delete", auth)[0] == 204
    for function in ("get", "delete", "members_list"):
        status, _, body = run(f"{prefix}_{function}", f"native_{prefix}_{function}", auth)
        assert status == 404 and error_code(body) == "not_found"
    event = sample_event(f"native_{prefix}_get")
    event["headers"]["authorization"] = auth
    event["pathParameters"] = {k: "abc" for k in event["pathParameters"]}
    assert invoke(f"{prefix}_get", event)[0] == 404


def test_deleting_a_member_contact_deletes_its_memberships(auth, contact):
    """In batches (BatchWriteItem): the IAM check proves the contacts_delete role may."""
    assert run("contact_lists_create", "native_contact_lists_create", auth)[0] == 201
    assert run("contact_lists_members_add", "native_contact_lists_members_add", auth, uuid=contact["uuid"])[0] == 200
    assert run("contacts_delete", "native_contacts_delete", auth, uuid=contact["uuid"])[0] == 204
    status, _, page = run("contact_lists_members_list", "native_contact_lists_members_list", auth)
    assert status == 200 and page["members"] == []


def test_community_suite_type_is_required(auth):
    status, _, body = run("communities_create", "native_communities_create", auth, body={"name": "X", "suite_type": "club"})
    assert status == 422 and body["error"]["details"][0]["field"] == "suite_type"


def test_custom_fields(auth):
    status, _, field = run("custom_fields_create", "native_custom_fields_create", auth)
    assert status == 201 and field["options"] == ["Lead", "Active Customer"] and field["type"] == "dropdown"
    assert run("custom_fields_get", "native_custom_fields_get", auth)[2] == field
    assert run("custom_fields_list", "native_custom_fields_list", auth)[2]["custom_fields"] == [field]
    status, _, updated = run("custom_fields_update", "native_custom_fields_update", auth)
    assert status == 200 and updated["options"][-1] == "Former Customer"
    status, _, body = run("custom_fields_update", "native_custom_fields_update", auth, body={"type": "text"})
    assert status == 422 and "cannot be changed" in body["error"]["message"]
    status, _, body = run("custom_fields_create", "native_custom_fields_create", auth,
                          body={"name": "Status", "scope": "contact", "type": "dropdown"})
    assert status == 422 and body["error"]["details"][0]["field"] == "options"
    assert run("custom_fields_delete", "native_custom_fields_delete", auth)[0] == 204
    assert run("custom_fields_get", "native_custom_fields_get", auth)[0] == 404


def test_templates(auth):
    status, _, email = run("templates_create", "native_templates_create", auth)
    assert status == 201 and email["type"] == "email" and email["steps"] == [] and email["body"] is None
    status, _, series = run("templates_create", "native_templates_create_series", auth)
    assert status == 201 and series["steps"][1] == {"template_id": 1, "delay_days": 2, "hour": 9, "min": 30,
                                                    "ampm": "am", "weekdays_only": True}
    assert run("templates_get", "native_templates_get", auth)[2] == email
    assert [t["id"] for t in run("templates_list", "native_templates_list", auth)[2]["templates"]] == [1, 2]
    status, _, updated = run("templates_update", "native_templates_update", auth)
    assert status == 200 and updated["subject"] == "Hi {{ contact.first_name }}" and updated["text"] is None
    status, _, body = run("templates_update", "native_templates_update", auth, body={"html": "{% if %}"})
    assert status == 422 and body["error"]["details"][0]["field"] == "html"
    assert "Liquid" in body["error"]["details"][0]["message"]
    status, _, body = run("templates_create", "native_templates_create", auth,
                          body={"title": "S", "type": "series", "steps": [{"template_id": 2}]})
    assert status == 422 and "not an email template" in body["error"]["message"]
    assert run("templates_delete", "native_templates_delete", auth)[0] == 204
    assert run("templates_get", "native_templates_get", auth)[0] == 404


def test_list_pagination_by_id(auth):
    for i in range(5):
        run("contact_lists_create", "native_contact_lists_create", auth, body={"name": f"L{i}"})
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = run("contact_lists_list", "native_contact_lists_list", auth, query=query)[2]
        seen += [g["id"] for g in page["contact_lists"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5]


def test_built_events_reach_the_same_handlers(auth):
    """http_event (tests' builder) and the samples agree on routes."""
    event = http_event("POST", "/v1/contact-lists", body={"name": "Built"}, authorization=auth)
    status, _, body = invoke("contact_lists_create", copy.deepcopy(event))
    assert status == 201 and body["name"] == "Built"
