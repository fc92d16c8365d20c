"""Zendesk's users and groups endpoints, over the same users and groups as /v1/users and /v1/groups."""
import pytest
from support import basic_auth, http_event, invoke

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


def get(function, path, auth, *, route=None, path_params=None, query=None):
    return invoke(function, http_event("GET", path, route=route, path_params=path_params, query=query,
                                       authorization=auth))


def show_user(auth, raw_id):
    return get("zendesk_show_user", f"/api/v2/users/{raw_id}", auth, route="/api/v2/users/{id}",
               path_params={"id": raw_id})


def create_user(auth, body):
    return invoke("zendesk_create_user", http_event("POST", "/api/v2/users.json", body=body, authorization=auth))


def search(auth, **query):
    return get("zendesk_search_users", "/api/v2/users/search.json", auth, query=query)


@pytest.fixture
def auth(account):
    return account[2]


@pytest.fixture
def jane(auth):
    return create_user(auth, {"user": {"name": "Jane Customer", "email": "Jane@Customer.test"}})[2]["user"]


def test_create_then_show_an_end_user(auth, jane):
    status, headers, body = show_user(auth, f"{jane['id']}.json")
    assert status == 200 and body == {"user": jane}
    assert (jane["name"], jane["email"], jane["role"]) == ("Jane Customer", "jane@customer.test", "end-user")
    assert jane["url"] == f"https://automations.example.com/api/v2/users/{jane['id']}.json"
    agent = create_user(auth, {"user": {"name": "Al Agent", "email": "al@acme.test", "role": "agent"}})
    assert agent[0] == 201 and agent[1]["Location"] == agent[2]["user"]["url"] and agent[2]["user"]["role"] == "agent"


def test_they_are_the_native_users(auth, jane):
    status, _, body = invoke("users_get", http_event("GET", f"/v1/users/{jane['id']}", route="/v1/users/{user_id}",
                                                     path_params={"user_id": str(jane["id"])}, authorization=auth))
    assert status == 200 and (body["id"], body["email"]) == (jane["id"], jane["email"])


def test_a_tickets_people_resolve(auth):
    ticket = invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json", authorization=auth, body={
        "ticket": {"subject": "Hi", "description": "Hello", "requester": {"name": "Rob", "email": "rob@x.test"}}}))
    ticket = ticket[2]["ticket"]
    assert show_user(auth, str(ticket["requester_id"]))[2]["user"]["name"] == "Rob"
    me = get("zendesk_current_user", "/api/v2/users/me.json", auth)[2]["user"]
    assert (me["id"], me["email"], me["role"]) == (ticket["submitter_id"], "owner@acme.test", "agent")
    shown = get("zendesk_show_many_users", "/api/v2/users/show_many.json", auth,
                query={"ids": f"{me['id']},999,{ticket['requester_id']}"})
    assert shown[0] == 200 and [u["id"] for u in shown[2]["users"]] == [me["id"], ticket["requester_id"]]


def test_me_is_made_on_first_use_and_then_the_same(auth):
    first = get("zendesk_current_user", "/api/v2/users/me", auth)[2]["user"]
    assert get("zendesk_current_user", "/api/v2/users/me", auth)[2]["user"] == first


@pytest.mark.parametrize("query", ["jane@customer.test", "email:JANE@customer.test", " email: jane@customer.test "])
def test_search_by_email(auth, jane, query):
    status, _, body = search(auth, query=query)
    assert status == 200 and [u["id"] for u in body["users"]] == [jane["id"]] and body["count"] == 1


@pytest.mark.parametrize("query", [{"query": "nobody@customer.test"}, {"query": "Janet"}, {"query": "x" * 5000},
                                   {"external_id": "abc"}])
def test_searches_that_find_nobody(auth, jane, query):
    assert search(auth, **query)[0::2] == (200, {"users": [], "next_page": None, "previous_page": None, "count": 0})


def test_search_needs_a_query(auth):
    status, _, body = search(auth)
    assert status == 400 and body["error"] == "ParameterMissing"


@pytest.mark.parametrize("raw_id", ["999", "abc", "0", "1" * 16, "-1"])
def test_unknown_users_are_record_not_found(auth, raw_id):
    assert show_user(auth, raw_id)[0::2] == (404, NOT_FOUND)


def test_other_accounts_users_answer_like_missing_ones(auth, jane):
    from automations.bootstrap import services

    other, key = services().accounts.create_account("Other", "o@other.test")
    assert show_user(basic_auth(other.email, key), str(jane["id"]))[0::2] == (404, NOT_FOUND)
    assert search(basic_auth(other.email, key), query=jane["email"])[2]["users"] == []


@pytest.mark.parametrize("query, error", [
    ({}, "ParameterMissing"), ({"ids": "1,x"}, "InvalidValue"),
    ({"ids": ",".join(str(i) for i in range(1, 102))}, "TooManyValues")])
def test_show_many_bad_ids(auth, query, error):
    status, _, body = get("zendesk_show_many_users", "/api/v2/users/show_many.json", auth, query=query)
    assert status == 400 and body["error"] == error


@pytest.mark.parametrize("body, status, error", [
    ({"user": {"email": "no-name@x.test"}}, 422, "RecordInvalid"),
    ({"user": {"name": "Bad", "email": "not-an-email"}}, 422, "RecordInvalid"),
    ({"user": {"name": "Boss", "email": "boss@x.test", "role": "emperor"}}, 422, "RecordInvalid"),
    ({"user": "jane"}, 422, "RecordInvalid"),
    ({"name": "No envelope"}, 400, "ParameterMissing"),
    ({"user": {"name": "Dup", "email": "jane@customer.test"}}, 422, "RecordInvalid"),  # DuplicateValue
])
def test_bad_user_creates(auth, jane, body, status, error):
    got = create_user(auth, body)
    assert (got[0], got[2]["error"]) == (status, error)


def test_bad_json_and_no_credentials(auth):
    raw = invoke("zendesk_create_user", http_event("POST", "/api/v2/users.json", raw_body="{nope", authorization=auth))
    assert (raw[0], raw[2]["error"]) == (400, "InvalidJSON")
    assert show_user(None, "1")[0] == 401


def test_show_group(account, auth):
    from automations.bootstrap import services

    al = create_user(auth, {"user": {"name": "Al", "email": "al@acme.test", "role": "agent"}})[2]["user"]
    group = services().agent_groups.create(account[0].id, {"name": "Support", "user_ids": [al["id"]]})
    status, _, body = get("zendesk_show_group", f"/api/v2/groups/{group.id}.json", auth, route="/api/v2/groups/{id}",
                          path_params={"id": f"{group.id}.json"})
    assert status == 200 and (body["group"]["id"], body["group"]["name"]) == (group.id, "Support")
    assert body["group"]["url"].endswith(f"/api/v2/groups/{group.id}.json") and body["group"]["deleted"] is False
    missing = get("zendesk_show_group", "/api/v2/groups/999", auth, route="/api/v2/groups/{id}",
                  path_params={"id": "999"})
    assert missing[0::2] == (404, NOT_FOUND)
