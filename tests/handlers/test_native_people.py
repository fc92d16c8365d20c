"""The native /v1 users and groups handlers, driven by events/native_users_*.json and
events/native_groups_*.json: status codes, shapes and the native error format."""
import pytest
from native_answers import error_code, with_request
from support import basic_auth, invoke, sample_event

ALEX = {"name": "Alex Agent", "email": "alex@acme.test", "role": "agent"}  # events/native_users_create.json


def run(function, sample, auth, *, at=None, **request):
    """Invoke ``function`` with events/<sample>.json; ``at`` replaces the id in its path."""
    event = sample_event(sample)
    if at is not None:
        (name, _), = event["pathParameters"].items()
        event["pathParameters"] = {name: str(at)}
        event["rawPath"] = event["requestContext"]["http"]["path"] = event["rawPath"].rsplit("/", 1)[0] + f"/{at}"
    return invoke(function, with_request(event, auth, **request))


def fields(body):
    return {d["field"] for d in body["error"]["details"]}


@pytest.fixture
def auth(account):
    return account[2]


@pytest.fixture
def other(aws):
    """Another account's credentials."""
    from automations.bootstrap import services

    acct, key = services().accounts.create_account("Other", "owner@other.test")
    return basic_auth(acct.email, key)


def new_user(auth, **values):
    status, _, body = run("users_create", "native_users_create", auth, body=values or None)
    assert status == 201, body
    return body


@pytest.fixture
def alex(auth):
    return new_user(auth)


# -- users ----------------------------------------------------------------------------------------
class TestUsers:
    def test_samples(self, auth, alex):
        assert {k: alex[k] for k in ALEX} == ALEX and alex["id"] == 1 and alex["created_at"].endswith("Z")
        assert set(alex) == {"id", "name", "email", "role", "created_at"}
        assert run("users_get", "native_users_get", auth)[:3:2] == (200, alex)
        assert run("users_list", "native_users_list", auth)[2] == {"users": [alex], "next_cursor": None}
        assert run("users_list", "native_users_lookup_by_email", auth)[2]["users"] == [alex]
        assert run("users_list", "native_users_list", auth, query={"email": "ALEX@acme.test"})[2]["users"] == [alex]
        assert run("users_list", "native_users_list", auth, query={"email": "no@acme.test"})[2] == {
            "users": [], "next_cursor": None}
        status, _, updated = run("users_update", "native_users_update", auth)
        assert status == 200 and updated == {**alex, "name": "Alex Senior Agent"}
        status, _, body = run("users_delete", "native_users_delete", auth)
        assert (status, body) == (204, None)
        status, _, body = run("users_get", "native_users_get", auth)
        assert status == 404 and error_code(body) == "not_found"

    def test_role_defaults_to_agent_and_can_change(self, auth):
        rita = new_user(auth, name="Rita", email="rita@example.com", role="end-user")
        assert rita["role"] == "end-user" and new_user(auth, name="Al", email="al@acme.test")["role"] == "agent"
        status, _, body = run("users_update", "native_users_update", auth, at=rita["id"], body={"role": "agent"})
        assert status == 200 and body["role"] == "agent"

    def test_an_email_in_use_is_a_conflict(self, auth, alex, other):
        status, _, body = run("users_create", "native_users_create", auth, body={**ALEX, "email": "ALEX@Acme.test"})
        assert status == 409 and error_code(body) == "conflict" and "(id 1)" in body["error"]["message"]
        assert run("users_create", "native_users_create", other)[0] == 201  # another account: another person

    @pytest.mark.parametrize("body, bad", [
        ({"name": "A", "email": "not-an-email"}, {"email"}),
        ({"name": "   ", "email": "a@acme.test"}, {"name"}),
        ({"name": "A", "email": "a@acme.test", "role": "admin"}, {"role"}),
        ({"email": "a@acme.test"}, {"name"}),
        ({}, {"name", "email"}),
        ({"name": 5, "email": ["a@acme.test"]}, {"name", "email"}),
        ({"name": "A", "email": "a@acme.test", "password": "x"}, {"password"}),
        ({"name": "A" * 201, "email": "a@acme.test"}, {"name"}),
    ])
    def test_invalid_users(self, auth, body, bad):
        status, _, answer = run("users_create", "native_users_create", auth, body=body)
        assert status == 422 and error_code(answer) == "invalid" and fields(answer) == bad

    @pytest.mark.parametrize("raw, status, code", [
        ("{bad json", 400, "malformed"), ('["alex@acme.test"]', 422, "invalid"), ("", 422, "invalid"),
        ('{"name": "' + "x" * (1024 * 1024) + '", "email": "a@acme.test"}', 413, "too_large"),
    ])
    def test_bad_bodies(self, auth, raw, status, code):
        got, _, body = run("users_create", "native_users_create", auth, raw_body=raw)
        assert (got, error_code(body)) == (status, code)

    @pytest.mark.parametrize("patch, bad", [
        ({"email": "new@acme.test"}, {"email"}), ({"name": None}, {"name"}), ({"role": None}, {"role"}),
        ({"role": "owner"}, {"role"}), ({"name": ""}, {"name"}),
    ])
    def test_invalid_updates(self, auth, alex, patch, bad):
        status, _, body = run("users_update", "native_users_update", auth, body=patch)
        assert status == 422 and fields(body) == bad
        assert run("users_get", "native_users_get", auth)[2] == alex

    def test_paging(self, auth):
        ids = [new_user(auth, name=f"U{n}", email=f"u{n}@acme.test")["id"] for n in range(5)]
        seen, cursor = [], None
        while True:
            status, _, page = run("users_list", "native_users_list", auth,
                                  query={"limit": "2", **({"cursor": cursor} if cursor else {})})
            assert status == 200 and len(page["users"]) <= 2
            seen += [u["id"] for u in page["users"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        for query in ({"limit": "0"}, {"limit": "x"}, {"limit": "101"}):
            assert run("users_list", "native_users_list", auth, query=query)[0] == 422
        for cursor in ("garbage!", "WyJ4Il0"):  # not base64 JSON; ["x"]
            status, _, body = run("users_list", "native_users_list", auth, query={"cursor": cursor})
            assert status == 400 and error_code(body) == "malformed"

    @pytest.mark.parametrize("function, sample", [
        ("users_get", "native_users_get"), ("users_update", "native_users_update"),
        ("users_delete", "native_users_delete")])
    @pytest.mark.parametrize("at", ["2", "abc", "-1", "0", "1.0", "9" * 13])
    def test_unknown_ids_are_not_found(self, auth, alex, function, sample, at):
        status, _, body = run(function, sample, auth, at=at)
        assert status == 404 and error_code(body) == "not_found"

    def test_another_accounts_user_is_not_found(self, alex, other):
        for function, sample in (("users_get", "native_users_get"), ("users_update", "native_users_update"),
                                 ("users_delete", "native_users_delete")):
            status, _, body = run(function, sample, other)
            assert status == 404 and error_code(body) == "not_found"
        assert run("users_list", "native_users_lookup_by_email", other)[2]["users"] == []
        assert run("users_list", "native_users_list", other)[2]["users"] == []

    def test_unauthenticated(self, alex):
        event = sample_event("native_users_list")
        event["headers"].pop("authorization")
        status, _, body = invoke("users_list", event)
        assert status == 401 and error_code(body) == "unauthenticated"


# -- groups ---------------------------------------------------------------------------------------
@pytest.fixture
def group(auth, alex):
    status, _, body = run("groups_create", "native_groups_create", auth)
    assert status == 201, body
    return body


class TestGroups:
    def test_samples(self, auth, alex, group):
        assert (group["id"], group["name"], group["user_ids"]) == (1, "Tier 2", [alex["id"]])
        assert set(group) == {"id", "name", "user_ids", "created_at", "updated_at"}
        assert run("groups_get", "native_groups_get", auth)[2] == group
        assert run("groups_list", "native_groups_list", auth)[2] == {"groups": [group], "next_cursor": None}
        status, _, updated = run("groups_update", "native_groups_update", auth)
        assert status == 200 and (updated["name"], updated["user_ids"]) == ("Tier 2 escalations", [alex["id"]])
        assert updated["updated_at"] >= group["updated_at"] and updated["created_at"] == group["created_at"]
        assert run("groups_delete", "native_groups_delete", auth)[0] == 204
        status, _, body = run("groups_get", "native_groups_get", auth)
        assert status == 404 and error_code(body) == "not_found"

    def test_members_are_replaced_and_follow_their_users(self, auth, alex, group):
        bea = new_user(auth, name="Bea", email="bea@acme.test")
        status, _, body = run("groups_update", "native_groups_update", auth, body={"user_ids": [bea["id"], alex["id"]]})
        assert status == 200 and body["user_ids"] == [alex["id"], bea["id"]]
        assert run("users_delete", "native_users_delete", auth, at=alex["id"])[0] == 204
        assert run("groups_get", "native_groups_get", auth)[2]["user_ids"] == [bea["id"]]
        run("users_update", "native_users_update", auth, at=bea["id"], body={"role": "end-user"})
        assert run("groups_get", "native_groups_get", auth)[2]["user_ids"] == []
        status, _, body = run("groups_update", "native_groups_update", auth, body={"user_ids": []})
        assert status == 200 and body["user_ids"] == []

    def test_unknown_and_foreign_user_ids_are_named(self, auth, alex, other):
        rita = new_user(auth, name="Rita", email="rita@example.com", role="end-user")
        body = {"name": "G", "user_ids": [alex["id"], rita["id"], 404, 11]}
        status, _, answer = run("groups_create", "native_groups_create", auth, body=body)
        assert status == 422 and error_code(answer) == "invalid"
        assert [d["message"] for d in answer["error"]["details"]] == [
            "User ids: no such users: 11, 404",
            f"User ids: only agents can be group members, not end-users: {rita['id']}"]
        new_user(other, name="S", email="s@other.test")  # user 1 of the other account
        status, _, answer = run("groups_create", "native_groups_create", other, body={"name": "G", "user_ids": [1, 2]})
        assert status == 422 and answer["error"]["message"] == "User ids: no such users: 2"  # rita is not theirs
        assert run("groups_list", "native_groups_list", auth)[2]["groups"] == []

    @pytest.mark.parametrize("body, bad", [
        ({"user_ids": [1]}, {"name"}), ({"name": ""}, {"name"}), ({"name": "G", "user_ids": "1"}, {"user_ids"}),
        ({"name": "G", "user_ids": ["1"]}, {"user_ids.0"}), ({"name": "G", "user_ids": [True]}, {"user_ids.0"}),
        ({"name": "G", "user_ids": [1.5]}, {"user_ids.0"}), ({"name": "G", "user_ids": [0]}, {"user_ids.0"}),
        ({"name": "G", "user_ids": None}, {"user_ids"}), ({"name": "G", "members": [1]}, {"members"}),
        ({"name": "G", "user_ids": list(range(1, 1002))}, {"user_ids"}),
    ])
    def test_invalid_groups(self, auth, alex, body, bad):
        status, _, answer = run("groups_create", "native_groups_create", auth, body=body)
        assert status == 422 and error_code(answer) == "invalid" and fields(answer) == bad

    @pytest.mark.parametrize("patch, bad", [
        ({"name": None}, {"name"}), ({"user_ids": None}, {"user_ids"}), ({"user_ids": [99]}, {"user_ids"}),
        ({"user_ids": [1, "2"]}, {"user_ids.1"}), ({"id": 7}, {"id"}),
    ])
    def test_invalid_updates(self, auth, group, patch, bad):
        status, _, body = run("groups_update", "native_groups_update", auth, body=patch)
        assert status == 422 and fields(body) == bad
        assert run("groups_get", "native_groups_get", auth)[2] == group

    @pytest.mark.parametrize("function, sample", [
        ("groups_create", "native_groups_create"), ("groups_update", "native_groups_update")])
    @pytest.mark.parametrize("raw, status, code", [
        ("{bad json", 400, "malformed"), ("[1]", 422, "invalid"),
        ('{"name": "G", "user_ids": [' + ",".join(["1"] * 600_000) + "]}", 413, "too_large"),
    ])
    def test_bad_bodies(self, auth, group, function, sample, raw, status, code):
        got, _, body = run(function, sample, auth, raw_body=raw)
        assert (got, error_code(body)) == (status, code)

    def test_paging(self, auth):
        for n in range(3):
            run("groups_create", "native_groups_create", auth, body={"name": f"G{n}"})
        status, _, first = run("groups_list", "native_groups_list", auth, query={"limit": "2"})
        assert status == 200 and [g["id"] for g in first["groups"]] == [1, 2] and first["next_cursor"]
        query = {"limit": "2", "cursor": first["next_cursor"]}
        _, _, rest = run("groups_list", "native_groups_list", auth, query=query)
        assert [g["id"] for g in rest["groups"]] == [3] and rest["next_cursor"] is None
        status, _, body = run("groups_list", "native_groups_list", auth, query={"cursor": "garbage!"})
        assert status == 400 and error_code(body) == "malformed"

    @pytest.mark.parametrize("function, sample", [
        ("groups_get", "native_groups_get"), ("groups_update", "native_groups_update"),
        ("groups_delete", "native_groups_delete")])
    def test_unknown_and_foreign_groups_are_not_found(self, auth, group, other, function, sample):
        for credentials, at in ((auth, "2"), (auth, "x"), (auth, "9" * 13), (other, "1")):
            status, _, body = run(function, sample, credentials, at=at)
            assert status == 404 and error_code(body) == "not_found", (credentials, at)
        assert run("groups_list", "native_groups_list", other)[2]["groups"] == []
        assert run("groups_get", "native_groups_get", auth)[2] == group  # untouched

    def test_unauthenticated(self):
        event = sample_event("native_groups_create")
        event["headers"].pop("authorization")
        status, _, body = invoke("groups_create", event)
        assert status == 401 and error_code(body) == "unauthenticated"
