"""Every Zendesk tickets handler, driven by the sample events in events/ and by built events."""
import pytest
from support import basic_auth, http_event, invoke, sample_event
from zendesk_pages import cursor_pages

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
TICKET = {"subject": "Printer on fire", "description": "The smoke is very colorful."}


def sample(name, auth):
    event = sample_event(name)
    event["headers"]["authorization"] = auth
    return event


def create(auth, **fields):
    return invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json",
                                                      body={"ticket": {**TICKET, **fields}}, authorization=auth))


def on_ticket(function, method, auth, ticket_id, body=None):
    return invoke(function, http_event(method, f"/api/v2/tickets/{ticket_id}.json", route="/api/v2/tickets/{id}",
                                       path_params={"id": f"{ticket_id}.json"}, body=body, authorization=auth))


def show(auth, ticket_id):
    return on_ticket("zendesk_show_ticket", "GET", auth, ticket_id)


def update(auth, ticket_id, **fields):
    return on_ticket("zendesk_update_ticket", "PUT", auth, ticket_id, {"ticket": fields})


def audits(auth, ticket_id):
    return invoke("zendesk_list_ticket_audits", http_event(
        "GET", f"/api/v2/tickets/{ticket_id}/audits.json", route="/api/v2/tickets/{id}/audits.json",
        path_params={"id": str(ticket_id)}, authorization=auth))


def events(audit):
    """An audit's events without their (derived) ids."""
    return [{k: v for k, v in e.items() if k != "id"} for e in audit["events"]]


def listing(auth, query=None):
    return invoke("zendesk_list_tickets", http_event("GET", "/api/v2/tickets.json", query=query, authorization=auth))


@pytest.fixture
def auth(account):
    return account[2]


@pytest.fixture
def ticket(auth):
    return create(auth)[2]["ticket"]


class TestSampleEvents:
    """Each events/zendesk_*ticket*.json is a valid request for its handler."""

    def test_create(self, auth):
        status, headers, body = invoke("zendesk_create_ticket", sample("zendesk_create_ticket", auth))
        assert status == 201
        t = body["ticket"]
        assert headers["Location"] == t["url"] == "https://automations.example.com/api/v2/tickets/1.json"
        assert (t["id"], t["status"], t["priority"], t["type"]) == (1, "new", "urgent", None)
        assert t["created_at"].endswith("Z") and len(t["created_at"]) == 20
        assert body["audit"]["ticket_id"] == 1 and body["audit"]["via"]["channel"] == "api"
        assert {"type": "Create", "field_name": "priority", "value": "urgent"} in events(body["audit"])

    def test_ticket_has_exactly_zendesks_keys(self, auth, ticket):
        assert list(ticket) == [
            "url", "id", "external_id", "via", "created_at", "updated_at", "type", "subject", "raw_subject",
            "description", "priority", "status", "recipient", "requester_id", "submitter_id", "assignee_id",
            "organization_id", "group_id", "collaborator_ids", "follower_ids", "email_cc_ids", "forum_topic_id",
            "problem_id", "has_incidents", "is_public", "due_at", "tags", "custom_fields", "satisfaction_rating",
            "sharing_agreement_ids", "custom_status_id", "fields", "followup_ids", "ticket_form_id", "brand_id",
            "allow_channelback", "allow_attachments", "from_messaging_channel"]
        assert ticket["via"] == {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}
        assert ticket["satisfaction_rating"] is None and ticket["fields"] == ticket["custom_fields"]
        assert ticket["collaborator_ids"] == ticket["follower_ids"] == ticket["email_cc_ids"] == []
        assert (ticket["is_public"], ticket["has_incidents"], ticket["problem_id"]) == (True, False, None)

    def test_single_brand_form_and_custom_status(self, auth, ticket):
        # One brand and one form for every ticket; the custom status follows the status.
        assert (ticket["brand_id"], ticket["ticket_form_id"], ticket["custom_status_id"]) == (1, 1, 1)
        status, _, body = update(auth, ticket["id"], status="pending")
        assert body["ticket"]["custom_status_id"] == 3
        assert {"type": "Change", "field_name": "custom_status_id", "value": "3", "previous_value": "1"} \
            in events(body["audit"])
        chosen = create(auth, brand_id=7, custom_status_id=42)[2]["ticket"]
        assert (chosen["brand_id"], chosen["ticket_form_id"], chosen["custom_status_id"]) == (7, 1, 42)
        assert update(auth, chosen["id"], status="open")[2]["ticket"]["custom_status_id"] == 42

    def test_show(self, auth, ticket):
        status, _, body = invoke("zendesk_show_ticket", sample("zendesk_show_ticket", auth))
        assert status == 200 and body == {"ticket": ticket}

    def test_list(self, auth, ticket):
        status, _, body = invoke("zendesk_list_tickets", sample("zendesk_list_tickets", auth))
        assert status == 200 and body["tickets"] == [ticket] and body["meta"]["has_more"] is False

    def test_update(self, auth, ticket):
        status, _, body = invoke("zendesk_update_ticket", sample("zendesk_update_ticket", auth))
        assert status == 200
        assert body["ticket"]["status"] == "solved" and body["ticket"]["tags"] == ["fire", "resolved"]
        assert {"type": "Change", "field_name": "status", "value": "solved", "previous_value": "new"} \
            in events(body["audit"])

    def test_delete(self, auth, ticket):
        status, _, body = invoke("zendesk_delete_ticket", sample("zendesk_delete_ticket", auth))
        assert (status, body) == (204, None)
        assert show(auth, ticket["id"])[0::2] == (404, NOT_FOUND)

    def test_audits(self, auth, ticket):
        update(auth, ticket["id"], priority="high")
        status, _, body = invoke("zendesk_list_ticket_audits", sample("zendesk_list_ticket_audits", auth))
        assert status == 200
        assert (body["count"], body["next_page"], body["previous_page"]) == (2, None, None)
        first, second = body["audits"]
        assert [e["type"] for e in first["events"][:2]] == ["Comment", "Create"] and first["id"] < second["id"]
        assert events(second) == [{"type": "Change", "field_name": "priority", "value": "high",
                                   "previous_value": None}]
        assert second["metadata"] == {"system": {}, "custom": {}}
        assert first["author_id"] == second["author_id"] == ticket["submitter_id"]


class TestValidation:
    @pytest.mark.parametrize("fields, field, message", [
        ({"status": "bogus"}, "status", 'Status: "bogus" is not valid; use one of new, open, pending, hold, solved, '
                                        "closed"),
        ({"status": None}, "status", "Status: null is not valid"),
        ({"priority": "extreme"}, "priority", 'Priority: "extreme" is not valid; use one of low, normal, high, urgent'),
        ({"type": "bug"}, "type", 'Type: "bug" is not valid; use one of question, incident, problem, task'),
        ({"type": ["task"]}, "type", 'Type: ["task"] is not valid'),
        ({"requester_id": "12"}, "requester_id", "Requester: must be a positive integer id"),
        ({"submitter_id": 0}, "submitter_id", "Submitter: must be a positive integer id"),
        ({"assignee_id": True}, "assignee_id", "Assignee: must be a positive integer id"),
        ({"group_id": -3}, "group_id", "Group: must be a positive integer id"),
        ({"organization_id": 1.5}, "organization_id", "Organization: must be a positive integer id"),
        ({"custom_status_id": "x"}, "custom_status_id", "Custom status: must be a positive integer id"),
        ({"brand_id": {}}, "brand_id", "Brand: must be a positive integer id"),
        ({"ticket_form_id": "7"}, "ticket_form_id", "Ticket form: must be a positive integer id"),
        ({"subject": 5}, "subject", "Subject: must be a string"),
        ({"description": ["x"]}, "description", "Description: must be a string"),
        ({"description": ""}, "description", "Description: cannot be blank"),
        ({"description": None}, "description", "Description: cannot be blank"),
        ({"description": "   "}, "description", "Description: cannot be blank"),
        ({"comment": "words"}, "comment", 'Comment: must be an object with a non-blank "body" or "html_body"'),
        ({"comment": {"body": 3}}, "comment", 'Comment: must be an object with a non-blank "body" or "html_body"'),
        ({"comment": {"body": "  "}}, "comment", 'Comment: must be an object with a non-blank "body"'),
        ({"comment": {"body": "x", "public": "no"}}, "comment", "Comment: public must be true or false"),
        ({"comment": {"body": "x" * 65_537}}, "comment", "Comment: is too long (at most 65536 characters)"),
        ({"external_id": 5}, "external_id", "External id: must be a string"),
        ({"recipient": ["a@b.test"]}, "recipient", "Recipient: must be a string"),
        ({"tags": "a b"}, "tags", "Tags: must be a list of strings"),
        ({"tags": ["ok", 1]}, "tags", "Tags: must be a list of strings"),
        ({"custom_fields": {"id": 1, "value": "x"}}, "custom_fields", "Custom fields: must be a list of"),
        ({"custom_fields": [{"id": "1", "value": "x"}]}, "custom_fields", "Custom fields: must be a list of"),
        ({"custom_fields": [{"id": 1}]}, "custom_fields", "Custom fields: must be a list of"),
        ({"custom_fields": [{"id": 1, "value": True}]}, "custom_fields", "Custom fields: must be a list of"),
        ({"custom_fields": [{"id": 1, "value": ["a"]}]}, "custom_fields", "Custom fields: must be a list of"),
        ({"custom_fields": ["x"]}, "custom_fields", "Custom fields: must be a list of"),
        ({"due_at": "tomorrow"}, "due_at", "Due at: must be an ISO-8601 time with a timezone"),
        ({"due_at": "2026-11-30T17:00:00"}, "due_at", "Due at: must be an ISO-8601 time with a timezone"),
        ({"due_at": 1767225600}, "due_at", "Due at: must be an ISO-8601 time with a timezone"),
        ({"due_at": "0001-01-01T00:00:00+01:00"}, "due_at", "Due at: must be an ISO-8601 time with a timezone"),
        ({"requester": {"name": "No Email"}}, "requester", 'Requester: must be an object with a valid "email"'),
        ({"requester": {"email": "not-an-email"}}, "requester", 'Requester: must be an object with a valid "email"'),
        ({"requester": {"email": "a@b.test", "name": 7}}, "requester", 'Requester: must be an object'),
        ({"requester": "jane@customer.test"}, "requester", 'Requester: must be an object with a valid "email"'),
        ({"requester": {"email": "a" * 250 + "@b.test"}}, "requester", "Requester: must be an object"),
        ({"requester": {"email": "a@b.test", "name": "x" * 256}}, "requester", "Requester: must be an object"),
        ({"requester_id": 10 ** 15}, "requester_id", "Requester: must be a positive integer id (at most"),
        ({"description": "x" * 200_000}, "comment", "Comment: is too long"),
        ({"subject": "x" * 200_000}, "base", "Ticket is too large"),
        ({"tags": [f"tag{i}" for i in range(20_000)]}, "tags", "Tags: a ticket holds at most 48 tags"),
    ])
    def test_create_is_refused_with_zendesk_422(self, auth, fields, field, message):
        status, _, body = create(auth, **fields)
        assert status == 422, body
        assert body["error"] == "RecordInvalid" and body["description"] == "Record validation errors"
        assert any(d["description"].startswith(message) for d in body["details"][field]), body
        assert listing(auth)[2]["tickets"] == []

    def test_every_problem_is_reported_at_once(self, auth):
        status, _, body = create(auth, status="x", priority="y", tags=3, due_at="soon", description="")
        assert status == 422
        assert set(body["details"]) == {"status", "priority", "tags", "due_at", "description"}

    @pytest.mark.parametrize("fields, field", [
        ({"status": "bogus"}, "status"), ({"assignee_id": "me"}, "assignee_id"), ({"tags": [None]}, "tags"),
        ({"due_at": "2026-13-01T00:00:00Z"}, "due_at"), ({"custom_fields": [{"id": 0, "value": "x"}]}, "custom_fields"),
        ({"requester": {"email": "nobody"}}, "requester"),
    ])
    def test_update_is_refused_with_zendesk_422(self, auth, ticket, fields, field):
        status, _, body = update(auth, ticket["id"], **fields)
        assert status == 422 and field in body["details"]
        assert show(auth, ticket["id"])[2]["ticket"] == ticket

    def test_a_refused_create_spends_no_id(self, auth):
        assert create(auth, description="x" * 200_000)[0] == 422
        assert create(auth)[2]["ticket"]["id"] == 1

    def test_an_update_cannot_grow_a_ticket_past_the_limit(self, auth, ticket):
        for field_id in range(1, 3):
            status, _, body = update(auth, ticket["id"], custom_fields=[{"id": field_id, "value": "x" * 70_000}])
        assert status == 422 and "Ticket is too large" in body["details"]["base"][0]["description"]
        assert len(show(auth, ticket["id"])[2]["ticket"]["custom_fields"]) == 1

    def test_a_closed_ticket_cannot_be_changed(self, auth, ticket):
        assert update(auth, ticket["id"], status="closed")[0] == 200
        for fields in ({"subject": "Reopen?"}, {"status": "open"}, {"status": "closed"}):
            status, _, body = update(auth, ticket["id"], **fields)
            assert status == 422
            assert body["details"] == {"status": [{"description": "Status: closed prevents ticket update",
                                                   "error": "INVALID"}]}
        assert show(auth, ticket["id"])[2]["ticket"]["subject"] == TICKET["subject"]

    def test_status_cannot_go_back_to_new(self, auth, ticket):
        assert update(auth, ticket["id"], status="new")[0] == 200  # still new: no change
        assert update(auth, ticket["id"], status="open")[0] == 200
        status, _, body = update(auth, ticket["id"], status="new")
        assert status == 422 and 'cannot be set back to "new"' in body["details"]["status"][0]["description"]


class TestMalformedRequests:
    @pytest.mark.parametrize("raw, error", [
        ("{not json", "InvalidJSON"), ("", "InvalidJSON"), ('{"subject": "no envelope"}', "ParameterMissing"),
        ("[1, 2]", "ParameterMissing"), ('"text"', "ParameterMissing"),
    ])
    def test_bad_bodies_get_400(self, auth, raw, error):
        for function, method, path in [("zendesk_create_ticket", "POST", "/api/v2/tickets.json"),
                                       ("zendesk_update_ticket", "PUT", "/api/v2/tickets/1.json")]:
            status, _, body = invoke(function, http_event(method, path, route=path, path_params={"id": "1.json"},
                                                          raw_body=raw, authorization=auth))
            assert (status, body["error"]) == (400, error) and body["description"]

    @pytest.mark.parametrize("envelope", [[1], "ticket", 5, None])
    def test_envelope_that_is_not_an_object(self, auth, envelope):
        status, _, body = invoke("zendesk_create_ticket", http_event(
            "POST", "/api/v2/tickets.json", body={"ticket": envelope}, authorization=auth))
        assert status == 422 and body["details"]["base"][0]["description"] == "The ticket must be a JSON object"

    def test_oversized_body(self, auth):
        status, _, body = invoke("zendesk_create_ticket", http_event(
            "POST", "/api/v2/tickets.json", raw_body='{"ticket": "' + "x" * (1024 * 1024) + '"}', authorization=auth))
        assert status == 413 and body["error"] == "RequestTooLarge"

    def test_unauthenticated(self, account):
        status, headers, body = invoke("zendesk_list_tickets", http_event("GET", "/api/v2/tickets.json"))
        assert (status, body) == (401, {"error": "Couldn't authenticate you"})
        assert headers["WWW-Authenticate"] == 'Basic realm="Web Password"'


class TestNotFoundAndTenancy:
    @pytest.mark.parametrize("raw_id", ["999", "999.json", "abc", "1.xml", "-1", "9" * 30])
    def test_unknown_or_malformed_ids(self, auth, ticket, raw_id):
        for function, method in [("zendesk_show_ticket", "GET"), ("zendesk_update_ticket", "PUT"),
                                 ("zendesk_delete_ticket", "DELETE")]:
            status, _, body = invoke(function, http_event(
                method, f"/api/v2/tickets/{raw_id}", route="/api/v2/tickets/{id}", path_params={"id": raw_id},
                body={"ticket": {"status": "open"}}, authorization=auth))
            assert (status, body) == (404, NOT_FOUND)
        status, _, body = invoke("zendesk_list_ticket_audits", http_event(
            "GET", f"/api/v2/tickets/{raw_id}/audits", route="/api/v2/tickets/{id}/audits",
            path_params={"id": raw_id}, authorization=auth))
        assert (status, body) == (404, NOT_FOUND)

    def test_an_unknown_id_is_404_whatever_the_body(self, auth):
        assert update(auth, 424242, status="bogus")[0::2] == (404, NOT_FOUND)

    def test_other_accounts_tickets_answer_exactly_like_missing_ones(self, auth, ticket):
        from automations.bootstrap import services

        other, other_key = services().accounts.create_account("Other", "other@else.test")
        theirs = basic_auth(other.email, other_key)
        mine = ticket["id"]
        assert show(theirs, mine) == show(theirs, 999_999) and show(theirs, mine)[0] == 404
        assert update(theirs, mine, subject="hijack")[2] == NOT_FOUND
        assert on_ticket("zendesk_delete_ticket", "DELETE", theirs, mine)[2] == NOT_FOUND
        assert audits(theirs, mine)[2] == NOT_FOUND
        assert listing(theirs)[2]["tickets"] == [] and listing(theirs, {"per_page": "5"})[2]["count"] == 0
        assert show(auth, mine)[2]["ticket"] == ticket
        # their ids are their own: their first ticket is number 1 too, and mine is untouched
        assert create(theirs)[2]["ticket"]["id"] == 1 and show(auth, mine)[2]["ticket"] == ticket


class TestRequester:
    def test_the_caller_is_requester_and_submitter_by_default(self, auth, ticket):
        assert ticket["requester_id"] == ticket["submitter_id"]

    def test_requester_by_email_is_created_then_found(self, account, auth):
        jane = {"name": "Jane Customer", "email": "jane@customer.test"}
        first = create(auth, requester=jane)[2]["ticket"]
        again = create(auth, requester={"email": "JANE@customer.test "})[2]["ticket"]
        other = create(auth, requester={"name": "Joe", "email": "joe@customer.test"})[2]["ticket"]
        assert first["requester_id"] == again["requester_id"] != other["requester_id"]
        assert first["requester_id"] != first["submitter_id"]
        from automations import config
        from automations.adapters import aws
        from automations.adapters.dynamo_people import DynamoUserStore

        user = DynamoUserStore(aws.client("dynamodb"), config.table_name()).get(account[0].id, first["requester_id"])
        assert (user.name, user.email, user.role) == ("Jane Customer", "jane@customer.test", "end-user")

    @pytest.mark.parametrize("requester", [
        {"email": "a..b@customer.test"}, {"email": ".jane@customer.test"}, {"email": "jane@customer"},
        {"email": "jäne@customer.test"}, {"email": "jane@-customer.test"}, {"email": "x" * 250 + "@c.test"},
        {"name": "J" * 201, "email": "jane@customer.test"},
    ], ids=["dots", "leading dot", "no tld", "not ascii", "bad domain", "too long", "long name"])
    def test_a_requester_the_users_api_would_refuse_is_refused(self, auth, requester):
        from test_zendesk_users import create as create_user

        assert create_user(auth, **{"name": "Jane", **requester})[0] == 422  # the users' API refuses it
        status, _, body = create(auth, requester=requester)
        assert status == 422 and list(body["details"]) == ["requester"]

    def test_requester_id_is_taken_as_given(self, auth):
        t = create(auth, requester_id=4242, submitter_id=77)[2]["ticket"]
        assert (t["requester_id"], t["submitter_id"]) == (4242, 77)

    def test_update_can_change_the_requester(self, auth, ticket):
        body = update(auth, ticket["id"], requester={"name": "New Person", "email": "new@customer.test"})[2]
        assert body["ticket"]["requester_id"] not in (ticket["requester_id"], None)
        assert body["audit"]["events"][0]["field_name"] == "requester_id"


class TestUpdates:
    def test_partial_update_keeps_the_rest(self, auth):
        created = create(auth, tags=["Billing", "vip"], custom_fields=[{"id": 5, "value": "gold"},
                                                                       {"id": 6, "value": 42}],
                         due_at="2026-11-30T18:00:00+01:00", type="task", external_id="ext-1")[2]["ticket"]
        assert created["tags"] == ["billing", "vip"] and created["due_at"] == "2026-11-30T17:00:00Z"
        assert created["custom_fields"] == [{"id": 5, "value": "gold"}, {"id": 6, "value": "42"}]
        status, _, body = update(auth, created["id"], id=created["id"], custom_fields=[{"id": 6, "value": None}],
                                 priority="low", description="ignored: set only at creation", url="ignored")
        assert status == 200
        t = body["ticket"]
        assert t["custom_fields"] == [{"id": 5, "value": "gold"}] and t["priority"] == "low"
        assert t["description"] == TICKET["description"]
        assert {k: t[k] for k in ("tags", "type", "external_id", "due_at", "subject")} == \
            {k: created[k] for k in ("tags", "type", "external_id", "due_at", "subject")}
        assert {"type": "Change", "field_name": "6", "value": None, "previous_value": "42"} in events(body["audit"])

    def test_nulls_clear(self, auth):
        created = create(auth, priority="high", type="incident", assignee_id=9, due_at="2026-11-30T17:00:00Z",
                         tags=["a"])[2]["ticket"]
        t = update(auth, created["id"], priority=None, type=None, assignee_id=None, due_at=None, tags=None,
                   requester_id=None)[2]["ticket"]
        assert (t["priority"], t["type"], t["assignee_id"], t["due_at"], t["tags"]) == (None, None, None, None, [])
        assert t["requester_id"] == created["requester_id"]

    def test_an_update_that_changes_nothing_writes_nothing(self, auth, ticket):
        status, _, body = update(auth, ticket["id"], subject=ticket["subject"], tags=[])
        assert status == 200 and body == {"ticket": ticket, "audit": None}
        assert audits(auth, ticket["id"])[2]["count"] == 1

    def test_api_updates_of_an_assigned_ticket_set_assignee_updated_at(self, auth, account, ticket):
        from automations.bootstrap import services

        update(auth, ticket["id"], priority="low")
        assert services().tickets.get(account[0].id, ticket["id"]).assignee_updated_at is None
        update(auth, ticket["id"], assignee_id=12)
        stored = services().tickets.get(account[0].id, ticket["id"])
        assert stored.assignee_updated_at == stored.updated_at == stored.assigned_at
        assert stored.requester_updated_at is None

    def test_comment_body_is_the_description(self, auth):
        t = create(auth, description=None, comment={"body": "From the comment"})[2]["ticket"]
        assert t["description"] == "From the comment"

    def test_a_comment_is_an_audit_event_and_updates_the_ticket(self, auth, ticket):
        from datetime import timedelta

        from automations import clock

        previous = clock.get_clock()
        clock.set_clock(clock.MovableClock(clock.now() + timedelta(hours=3), frozen=True))
        try:
            status, _, body = update(auth, ticket["id"], comment={"body": "Any news?", "public": False})
            later = clock.now()
        finally:
            clock.set_clock(previous)
        assert status == 200 and body["ticket"]["updated_at"] == clock.iso_z(later) != ticket["updated_at"]
        assert body["ticket"]["description"] == ticket["description"]  # the description is the first comment
        (event,) = body["audit"]["events"]
        assert event == {"id": event["id"], "type": "Comment", "author_id": body["audit"]["author_id"],
                         "body": "Any news?", "html_body": '<div class="zd-comment" dir="auto"><p>Any news?</p></div>',
                         "plain_body": "Any news?", "public": False, "attachments": [],
                         "audit_id": body["audit"]["id"]}
        assert audits(auth, ticket["id"])[2]["audits"][-1] == body["audit"]
        html = update(auth, ticket["id"], comment={"html_body": "<p>Fixed &amp; done</p>"})[2]["audit"]["events"][0]
        assert (html["body"], html["html_body"], html["public"]) == ("Fixed & done", "<p>Fixed &amp; done</p>", True)

    def test_the_first_audit_is_a_comment_then_create_events(self, auth, ticket):
        (first,) = audits(auth, ticket["id"])[2]["audits"]
        comment, *created = first["events"]
        assert (comment["type"], comment["body"], comment["audit_id"]) == ("Comment", TICKET["description"], first["id"])
        assert [e["field_name"] for e in created][:6] == [
            "subject", "requester_id", "submitter_id", "status", "custom_status_id", "ticket_form_id"]
        assert {e["type"] for e in created} == {"Create"}
        assert len({e["id"] for e in first["events"]}) == len(first["events"])

    def test_solving_then_closing(self, auth, ticket):
        assert update(auth, ticket["id"], status="solved")[2]["ticket"]["status"] == "solved"
        closed = update(auth, ticket["id"], status="closed")[2]
        assert closed["ticket"]["status"] == "closed"
        assert on_ticket("zendesk_delete_ticket", "DELETE", auth, ticket["id"])[0] == 204  # closed: still deletable


class TestListing:
    @pytest.fixture
    def many(self, auth):
        for i in range(7):
            create(auth, subject=f"Ticket {i}")
        return auth

    def test_offset_pages(self, many):
        status, _, body = listing(many, {"per_page": "3", "page": "2"})
        assert status == 200 and body["count"] == 7
        assert [t["id"] for t in body["tickets"]] == [4, 5, 6]
        assert body["next_page"] == "https://automations.example.com/api/v2/tickets.json?per_page=3&page=3"
        assert body["previous_page"] == "https://automations.example.com/api/v2/tickets.json?per_page=3&page=1"
        last = listing(many, {"per_page": "3", "page": "3"})[2]
        assert [t["id"] for t in last["tickets"]] == [7] and last["next_page"] is None
        assert listing(many, {"per_page": "3", "page": "9"})[2]["tickets"] == []
        assert len(listing(many, {"per_page": "500"})[2]["tickets"]) == 7

    def test_deleting_keeps_the_count(self, many):
        on_ticket("zendesk_delete_ticket", "DELETE", many, 3)
        body = listing(many, {"per_page": "100"})[2]
        assert body["count"] == 6 and 3 not in [t["id"] for t in body["tickets"]]

    def test_cursor_pages_forward_and_back(self, many):
        pages = cursor_pages(lambda query: listing(many, query), {"page[size]": "3"})
        assert all("count" not in page for page in pages)
        assert all(page["links"]["next"].startswith("https://automations.example.com/api/v2/tickets.json?")
                   for page in pages[:-1])
        assert [t["id"] for page in pages for t in page["tickets"]] == list(range(1, 8))
        body = pages[-1]
        back = listing(many, {"page[size]": "3", "page[before]": body["meta"]["before_cursor"]})[2]
        assert [t["id"] for t in back["tickets"]] == [4, 5, 6] and back["meta"]["has_more"] is True
        first = listing(many, {"page[size]": "3", "page[before]": back["meta"]["before_cursor"]})[2]
        assert [t["id"] for t in first["tickets"]] == [1, 2, 3] and first["meta"]["has_more"] is False
        empty = listing(many, {"page[size]": "3", "page[before]": first["meta"]["before_cursor"]})[2]
        assert empty["tickets"] == [] and empty["links"] == {"next": None, "prev": None}

    @pytest.mark.parametrize("query", [
        {"page[size]": "101"}, {"page[size]": "0"}, {"page[size]": "ten"}, {"page[after]": "!!!"},
        {"page[after]": "WzEsMl0"},  # [1,2]: a cursor of another listing
        {"page[after]": "WyJ4Il0"},  # ["x"]
        {"page[before]": "Wy0xXQ"},  # [-1]
        {"page[after]": "WzEwMDAwMDAwMDAwMDAwMDBd"},  # [10**15]: beyond any id
        {"page[after]": "WzFd", "page[before]": "WzFd"}, {"page": "0"}, {"per_page": "-2"},
        {"page[size]": "3", "page": "-268216828483203501238779904"},  # unused beside page[size], still refused
        {"page": "101", "per_page": "100"},  # Zendesk's offset limit: 10,000 tickets
    ])
    def test_bad_pagination_parameters(self, many, query):
        status, _, body = listing(many, query)
        assert (status, body["error"]) == (400, "InvalidPaginationParameter")


class TestTags:
    def tags(self, function, method, auth, ticket_id, body):
        return invoke(function, http_event(method, f"/api/v2/tickets/{ticket_id}/tags.json",
                                           route="/api/v2/tickets/{id}/tags.json", path_params={"id": str(ticket_id)},
                                           body=body, authorization=auth))

    def test_add_set_and_remove(self, auth, ticket):
        assert self.tags("zendesk_ticket_tags", "PUT", auth, ticket["id"], {"tags": ["Urgent", "vip"]}) == \
            (200, {"Content-Type": "application/json; charset=utf-8"}, {"tags": ["urgent", "vip"]})
        assert self.tags("zendesk_ticket_tags", "PUT", auth, ticket["id"], {"tags": ["billing", "vip"]})[2] == \
            {"tags": ["urgent", "vip", "billing"]}
        assert self.tags("zendesk_ticket_tags", "DELETE", auth, ticket["id"], {"tags": ["VIP", "absent"]})[2] \
            == {"tags": ["urgent", "billing"]}
        assert self.tags("zendesk_ticket_tags", "POST", auth, ticket["id"], {"tags": ["only"]})[2] == \
            {"tags": ["only"]}
        assert show(auth, ticket["id"])[2]["ticket"]["tags"] == ["only"]
        assert {"type": "Change", "field_name": "tags", "value": ["only"], "previous_value": ["urgent", "billing"]} \
            in events(audits(auth, ticket["id"])[2]["audits"][-1])

    def test_ticket_updates_take_additional_and_remove_tags(self, auth, ticket):
        update(auth, ticket["id"], tags=["a", "b"])
        body = update(auth, ticket["id"], additional_tags=["c"], remove_tags=["a"])[2]
        assert body["ticket"]["tags"] == ["b", "c"]

    @pytest.mark.parametrize("function, method", [("zendesk_ticket_tags", "PUT"),
                                                  ("zendesk_ticket_tags", "POST"),
                                                  ("zendesk_ticket_tags", "DELETE")])
    def test_bad_requests(self, auth, ticket, function, method):
        assert self.tags(function, method, auth, ticket["id"], {"tags": "a b"})[0] == 422
        assert self.tags(function, method, auth, ticket["id"], {"tags": [1]})[2]["error"] == "RecordInvalid"
        assert self.tags(function, method, auth, ticket["id"], {"tag": ["a"]})[0::2] == \
            (400, {"error": "ParameterMissing", "description": "Required parameter missing: tags"})
        assert self.tags(function, method, auth, 999, {"tags": ["a"]})[0::2] == (404, NOT_FOUND)
