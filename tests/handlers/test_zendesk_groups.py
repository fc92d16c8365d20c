"""Zendesk's groups: create, rename, delete and list the same agent groups as /v1/groups."""
import pytest
from support import basic_auth, http_event, invoke
from zendesk_pages import cursor_pages

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


def create(auth, body):
    return invoke("zendesk_create_group", http_event("POST", "/api/v2/groups.json", body=body, authorization=auth))


def on_group(function, method, auth, raw_id, body=None):
    return invoke(function, http_event(method, f"/api/v2/groups/{raw_id}", route="/api/v2/groups/{id}",
                                       path_params={"id": raw_id}, body=body, authorization=auth))


def listing(auth, query=None):
    return invoke("zendesk_list_groups", http_event("GET", "/api/v2/groups.json", query=query, authorization=auth))


@pytest.fixture
def auth(account):
    return account[2]


def test_create_rename_delete(account, auth):
    from automations.bootstrap import services

    status, headers, body = create(auth, {"group": {"name": "Support", "description": "ignored", "user_ids": [1]}})
    group = body["group"]
    assert status == 201 and headers["Location"] == group["url"] == \
        f"https://automations.example.com/api/v2/groups/{group['id']}.json"
    assert (group["name"], group["deleted"], group["default"]) == ("Support", False, False)
    native = services().agent_groups.get(account[0].id, group["id"])  # the same group, with no members
    assert (native.name, native.user_ids) == ("Support", ())
    agent = services().users.create(account[0].id, {"name": "Al", "email": "al@acme.test", "role": "agent"})
    services().agent_groups.update(account[0].id, group["id"], {"user_ids": [agent.id]})

    renamed = on_group("zendesk_update_group", "PUT", auth, f"{group['id']}.json", {"group": {"name": "Tier 2"}})
    assert renamed[0] == 200 and renamed[2]["group"]["name"] == "Tier 2"
    assert services().agent_groups.get(account[0].id, group["id"]).user_ids == (agent.id,)  # members stay
    assert on_group("zendesk_update_group", "PUT", auth, str(group["id"]), {"group": {}})[2]["group"]["name"] == \
        "Tier 2"

    assert on_group("zendesk_delete_group", "DELETE", auth, str(group["id"])) == (204, {}, None)
    assert on_group("zendesk_show_group", "GET", auth, str(group["id"]))[0::2] == (404, NOT_FOUND)
    assert on_group("zendesk_delete_group", "DELETE", auth, str(group["id"]))[0::2] == (404, NOT_FOUND)


def test_list_offset_and_cursor(auth):
    made = [create(auth, {"group": {"name": f"Group {i}"}})[2]["group"] for i in range(5)]
    body = listing(auth, {"per_page": "2", "page": "2"})[2]
    assert [g["id"] for g in body["groups"]] == [g["id"] for g in made[2:4]] and body["count"] == 5
    pages = cursor_pages(lambda query: listing(auth, query), {"page[size]": "2"})
    assert [g["id"] for page in pages for g in page["groups"]] == [g["id"] for g in made]
    assert listing(auth)[2]["groups"] == made


@pytest.mark.parametrize("body, status, error", [
    ({"group": {"name": ""}}, 422, "RecordInvalid"), ({"group": {"name": "  "}}, 422, "RecordInvalid"),
    ({"group": {"name": 5}}, 422, "RecordInvalid"), ({"group": "Support"}, 422, "RecordInvalid"),
    ({"group": None}, 422, "RecordInvalid"), ({"name": "Support"}, 400, "ParameterMissing"),
    ([1], 400, "ParameterMissing"),
])
def test_bad_creates_and_updates(auth, body, status, error):
    answer = create(auth, body)
    assert (answer[0], answer[2]["error"]) == (status, error)
    group = create(auth, {"group": {"name": "Support"}})[2]["group"]
    answer = on_group("zendesk_update_group", "PUT", auth, str(group["id"]), body)
    assert (answer[0], answer[2]["error"]) == (status, error)


def test_a_group_needs_a_name(auth):
    assert create(auth, {"group": {}})[2]["details"] == {
        "name": [{"description": "Name: cannot be blank", "error": "INVALID"}]}


@pytest.mark.parametrize("query", [{"page[size]": "0"}, {"page[size]": "101"}, {"page[after]": "!!"}, {"page": "0"},
                                   {"page[after]": "WyJ4Il0"}])
def test_bad_pagination(auth, query):
    create(auth, {"group": {"name": "Support"}})
    status, _, body = listing(auth, query)
    assert (status, body["error"]) == (400, "InvalidPaginationParameter")


@pytest.mark.parametrize("raw_id", ["999", "abc", "-1", "9" * 30])
def test_unknown_ids(auth, raw_id):
    assert on_group("zendesk_update_group", "PUT", auth, raw_id, {"group": {"name": "x"}})[0::2] == (404, NOT_FOUND)
    assert on_group("zendesk_delete_group", "DELETE", auth, raw_id)[0::2] == (404, NOT_FOUND)


def test_other_accounts_groups_and_no_credentials(auth):
    from automations.bootstrap import services

    group = create(auth, {"group": {"name": "Mine"}})[2]["group"]
    other, key = services().accounts.create_account("Other", "other@else.test")
    theirs = basic_auth(other.email, key)
    assert listing(theirs)[2]["groups"] == []
    assert on_group("zendesk_update_group", "PUT", theirs, str(group["id"]), {"group": {"name": "x"}})[0::2] == \
        (404, NOT_FOUND)
    assert on_group("zendesk_delete_group", "DELETE", theirs, str(group["id"]))[0::2] == (404, NOT_FOUND)
    assert listing(auth)[2]["groups"] == [group]
    assert create(None, {"group": {"name": "x"}})[0] == 401 and listing(None)[0] == 401
