"""Zendesk's users as Zendesk has them: end-users with a name only, changes, deletion, bulk
requests through the job worker, create_or_update, searches and the incremental user export, over
the same store as /v1/users. Every bad input answers in Zendesk's format, never with a 5xx."""
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from support import frozen_clock, http_event, invoke
from test_zendesk_ticket_jobs import job_status, work

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


@pytest.fixture
def auth(account):
    return account[2]


def call(function, method, path, auth, *, body=None, query=None, raw_id=None, raw_body=None):
    extra = {"route": "/api/v2/users/{id}", "path_params": {"id": raw_id}} if raw_id is not None else {}
    return invoke(function, http_event(method, path, body=body, query=query, authorization=auth, raw_body=raw_body,
                                       **extra))


def create(auth, **user):
    return call("zendesk_create_user", "POST", "/api/v2/users.json", auth, body={"user": user})


def update(auth, raw_id, body):
    return call("zendesk_update_user", "PUT", f"/api/v2/users/{raw_id}", auth, body=body, raw_id=raw_id)


def delete(auth, raw_id):
    return call("zendesk_delete_user", "DELETE", f"/api/v2/users/{raw_id}", auth, raw_id=raw_id)


def show(auth, raw_id):
    return call("zendesk_show_user", "GET", f"/api/v2/users/{raw_id}", auth, raw_id=raw_id)


def search(auth, **query):
    return call("zendesk_search_users", "GET", "/api/v2/users/search.json", auth, query=query)


def create_or_update(auth, user):
    return call("zendesk_create_or_update_user", "POST", "/api/v2/users/create_or_update.json", auth,
                body={"user": user})


def export(auth, query, *, cursor=False):
    function, path = (("zendesk_incremental_users_cursor", "/api/v2/incremental/users/cursor.json") if cursor
                      else ("zendesk_incremental_users", "/api/v2/incremental/users.json"))
    return call(function, "GET", path, auth, query=query)


def finished(aws, auth, answer):
    assert answer[0] == 200 and answer[2]["job_status"]["status"] == "queued", answer
    work(aws)
    return job_status(auth, answer[2]["job_status"]["id"])[2]["job_status"]


def test_an_end_user_with_a_name_only_then_changed_and_deleted(auth):
    status, headers, body = create(auth, name="Walk-in Customer")
    user = body["user"]
    assert status == 201 and headers["Location"] == user["url"]
    assert (user["name"], user["email"], user["role"], user["external_id"], user["active"]) == \
        ("Walk-in Customer", None, "end-user", None, True)

    changed = update(auth, f"{user['id']}.json", {"user": {"name": "Regular", "external_id": "crm-7",
                                                          "email": "Reg@Shop.test", "role": "agent", "id": 99}})
    assert changed[0] == 200 and (changed[2]["user"]["name"], changed[2]["user"]["email"],
                                  changed[2]["user"]["external_id"], changed[2]["user"]["role"]) == \
        ("Regular", "reg@shop.test", "crm-7", "agent")
    assert show(auth, str(user["id"]))[2] == changed[2]  # the id in the body is not the one changed

    status, _, body = delete(auth, str(user["id"]))
    assert status == 200 and body["user"]["id"] == user["id"] and body["user"]["active"] is False
    assert show(auth, str(user["id"]))[0::2] == (404, NOT_FOUND)
    assert delete(auth, str(user["id"]))[0::2] == (404, NOT_FOUND)
    again = create(auth, name="New Regular", email="reg@shop.test", external_id="crm-7")  # both freed
    assert again[0] == 201


def _duplicate(field, label, value):
    """Zendesk's answer to an email or external id another user has."""
    return 422, {"error": "RecordInvalid", "description": "Record validation errors", "details": {field: [
        {"description": f"{label}: {value} is already being used by another user", "error": "DuplicateValue"}]}}


def test_emails_and_external_ids_belong_to_one_user(auth):
    first = create(auth, name="First", email="one@x.test", external_id="A-1")[2]["user"]
    second = create(auth, name="Second")[2]["user"]
    for taken, answer in (({"email": "ONE@x.test"}, _duplicate("email", "Email", "one@x.test")),
                          ({"external_id": "A-1"}, _duplicate("external_id", "External ID", "A-1"))):
        assert create(auth, name="Third", **taken)[0::2] == answer
        assert update(auth, str(second["id"]), {"user": taken})[0::2] == answer
    assert show(auth, str(second["id"]))[2]["user"] == second  # nothing written
    assert update(auth, str(first["id"]), {"user": {"external_id": 42}})[2]["user"]["external_id"] == "42"
    assert update(auth, str(second["id"]), {"user": {"external_id": "A-1"}})[0] == 200  # freed by the change


@pytest.mark.parametrize("body, status, error", [
    ({"user": {"name": ""}}, 422, "RecordInvalid"),
    ({"user": {"name": None}}, 422, "RecordInvalid"),
    ({"user": {"role": None}}, 422, "RecordInvalid"),
    ({"user": {"role": "admin-of-all"}}, 422, "RecordInvalid"),
    ({"user": {"email": "nope"}}, 422, "RecordInvalid"),
    ({"user": {"email": 7}}, 422, "RecordInvalid"),
    ({"user": {"external_id": ["x"]}}, 422, "RecordInvalid"),
    ({"user": {"external_id": True}}, 422, "RecordInvalid"),
    ({"user": {"external_id": "x" * 256}}, 422, "RecordInvalid"),
    ({"user": {"name": "x" * 100_000}}, 422, "RecordInvalid"),
    ({"user": [1]}, 422, "RecordInvalid"),
    ({"user": None}, 422, "RecordInvalid"),
    ({"name": "no envelope"}, 400, "ParameterMissing"),
    ([], 400, "ParameterMissing"),
])
def test_bad_updates(auth, body, status, error):
    user = create(auth, name="Someone")[2]["user"]
    got = update(auth, str(user["id"]), body)
    assert (got[0], got[2]["error"]) == (status, error)
    assert show(auth, str(user["id"]))[2]["user"] == user  # nothing written


@pytest.mark.parametrize("raw_id", ["999", "abc", "0", "9223372036854775807", "-1", "1.5"])
def test_unknown_users_cannot_be_changed_or_deleted(auth, raw_id):
    assert update(auth, raw_id, {"user": {"name": "X"}})[0::2] == (404, NOT_FOUND)
    assert delete(auth, raw_id)[0::2] == (404, NOT_FOUND)


def test_bad_json_and_media_type(auth):
    user = create(auth, name="Someone")[2]["user"]
    got = call("zendesk_update_user", "PUT", f"/api/v2/users/{user['id']}", auth, raw_id=str(user["id"]),
               raw_body="{nope")
    assert (got[0], got[2]["error"]) == (400, "InvalidJSON")
    for function, path in (("zendesk_create_or_update_user", "/api/v2/users/create_or_update.json"),
                           ("zendesk_create_many_users", "/api/v2/users/create_many.json"),
                           ("zendesk_create_or_update_many_users", "/api/v2/users/create_or_update_many.json")):
        got = call(function, "POST", path, auth, raw_body="[")
        assert (got[0], got[2]["error"]) == (400, "InvalidJSON")


def test_create_or_update_finds_by_external_id_then_email(auth):
    status, headers, body = create_or_update(auth, {"name": "Ext", "external_id": "E-1"})
    assert status == 201 and headers["Location"] == body["user"]["url"]
    made = body["user"]
    renamed = create_or_update(auth, {"name": "Ext Renamed", "external_id": "E-1", "email": "ext@x.test"})
    assert renamed[0] == 200 and renamed[2]["user"]["id"] == made["id"]
    by_email = create_or_update(auth, {"name": "By Email", "email": "EXT@x.test"})
    assert by_email[0] == 200 and (by_email[2]["user"]["id"], by_email[2]["user"]["name"]) == (made["id"], "By Email")
    for bad, status, error in (({"email": "ext2@x.test"}, 422, "RecordInvalid"), ("x", 422, "RecordInvalid"),
                               ({"name": "N", "email": "bad"}, 422, "RecordInvalid")):
        got = create_or_update(auth, bad)
        assert (got[0], got[2]["error"]) == (status, error)
    assert call("zendesk_create_or_update_user", "POST", "/api/v2/users/create_or_update.json", auth,
                body={"users": []})[2]["error"] == "ParameterMissing"


def test_search_by_name_email_and_external_id(auth):
    ada = create(auth, name="Ada Lovelace", email="ada@x.test", external_id="crm-1")[2]["user"]
    alan = create(auth, name="Alan Turing", external_id="crm-2")[2]["user"]
    create(auth, name="Grace Hopper")

    def found(**query):
        status, _, body = search(auth, **query)
        assert status == 200 and body["count"] >= len(body["users"])
        return [u["id"] for u in body["users"]]

    assert found(query="ada@x.test") == found(query="email:ADA@x.test") == [ada["id"]]
    assert found(query="lovelace") == found(query="Ada Love") == found(query="name:ada") == [ada["id"]]
    assert found(query="a") == [ada["id"], alan["id"]]  # "Ada", "Alan": words that start with it
    assert found(query="crm-2") == found(query="external_id:crm-2") == found(external_id="crm-2") == [alan["id"]]
    assert found(query="turing ada") == [] and found(external_id="crm-3") == [] and found(query="email:crm-1") == []
    assert found(query="a", per_page="1", page="2") == [alan["id"]]
    for bad in ({}, {"query": "  "}, {"per_page": "x", "query": "a"}):
        assert search(auth, **bad)[0] == 400
    assert search(auth, query="\ud800")[0] == 400


def listed(auth, **query):
    return call("zendesk_list_users", "GET", "/api/v2/users.json", auth, query=query)


def _ids(answer):
    assert answer[0] == 200, answer
    return [u["id"] for u in answer[2]["users"]]


def test_the_list_pages_by_offset_and_counts(auth):
    made = [create(auth, name=f"Listed {i}", role="agent" if i % 2 else "end-user")[2]["user"] for i in range(5)]
    ids = [u["id"] for u in made]
    first = listed(auth, per_page="2")
    assert _ids(first) == ids[:2] and first[2]["count"] == 5 and first[2]["previous_page"] is None
    assert first[2]["users"][0] == made[0]  # the user as GET /api/v2/users/{id} shows it
    last = listed(auth, **dict(parse_qsl(urlsplit(listed(auth, per_page="2", page="2")[2]["next_page"]).query)))
    assert _ids(last) == ids[4:] and last[2]["next_page"] is None and last[2]["previous_page"]
    assert _ids(listed(auth, page="4", per_page="2")) == []

    agents = listed(auth, role="agent")
    assert _ids(agents) == [ids[1], ids[3]] and agents[2]["count"] == 2
    assert _ids(listed(auth, role="end-user", per_page="1", page="2")) == [ids[2]]  # skipped on GSI1
    both = listed(auth, **{"role[]": "agent,end-user"})  # role[]=agent&role[]=end-user, as API Gateway joins it
    assert _ids(both) == ids and both[2]["count"] == 5
    assert (_ids(listed(auth, role="admin")), listed(auth, role="admin")[2]["count"]) == ([], 0)
    assert _ids(listed(auth, **{"role[]": "admin,end-user"})) == [ids[0], ids[2], ids[4]]

    update(auth, str(ids[0]), {"user": {"role": "agent"}})  # the counts follow changes and deletions
    delete(auth, str(ids[1]))
    assert listed(auth, role="agent")[2]["count"] == 2 and listed(auth, role="end-user")[2]["count"] == 2
    assert _ids(listed(auth, role="agent")) == [ids[0], ids[3]] and listed(auth)[2]["count"] == 4


def test_the_list_pages_by_cursor_both_ways(auth):
    ids = [create(auth, name=f"Cursor {i}", role="agent" if i < 3 else "end-user")[2]["user"]["id"] for i in range(5)]
    walked, query = [], {"page[size]": "2"}
    for _ in range(5):
        page = listed(auth, **query)
        walked += _ids(page)
        if not page[2]["meta"]["has_more"]:
            break
        query = dict(parse_qsl(urlsplit(page[2]["links"]["next"]).query))
    assert walked == ids and "count" not in page[2]
    back = listed(auth, **dict(parse_qsl(urlsplit(page[2]["links"]["prev"]).query)))
    assert _ids(back) == ids[2:4] and back[2]["meta"]["has_more"]
    agents = listed(auth, role="agent", **{"page[size]": "2"})
    assert _ids(agents) == ids[:2] and agents[2]["meta"]["has_more"]
    rest = listed(auth, **dict(parse_qsl(urlsplit(agents[2]["links"]["next"]).query)))
    assert _ids(rest) == ids[2:3] and not rest[2]["meta"]["has_more"]
    assert listed(auth, role="admin", **{"page[size]": "2"})[2]["meta"] == \
        {"has_more": False, "after_cursor": None, "before_cursor": None}


def test_the_list_shows_only_the_accounts_users(auth):
    from automations.bootstrap import services
    from support import basic_auth

    create(auth, name="Mine", role="agent")
    other, key = services().accounts.create_account("Other", "o@other.test")
    for query in ({}, {"role": "agent"}, {"page[size]": "10"}):
        assert _ids(listed(basic_auth(other.email, key), **query)) == []


@pytest.mark.parametrize("query, error", [
    ({"role": "emperor"}, "InvalidValue"), ({"role[]": "agent,boss"}, "InvalidValue"),
    ({"page": "101", "per_page": "100"}, "InvalidPaginationParameter"),  # Zendesk's 10,000-record offset limit
    ({"page": "0"}, "InvalidPaginationParameter"), ({"per_page": "x"}, "InvalidPaginationParameter"),
    ({"page[size]": "101"}, "InvalidPaginationParameter"), ({"page[after]": "!!"}, "InvalidPaginationParameter"),
    ({"page[after]": "WzFd", "page[before]": "WzFd"}, "InvalidPaginationParameter"),
    ({"page[before]": "WyJ4Il0", "role": "agent"}, "InvalidPaginationParameter"),  # ["x"]: not a user id
])
def test_bad_list_requests(auth, query, error):
    create(auth, name="Someone")
    status, _, body = listed(auth, **query)
    assert (status, body["error"]) == (400, error), body


def test_bulk_create_update_and_delete_through_job_statuses(aws, auth):
    done = finished(aws, auth, call("zendesk_create_many_users", "POST", "/api/v2/users/create_many.json", auth,
                                    body={"users": [{"name": "Bulk 0"}, {"name": "Bulk 1", "external_id": "b-1"},
                                                    {"name": ""}, {"name": "Bulk 3", "email": "b3@x.test"}]}))
    results = sorted(done["results"], key=lambda r: r["index"])
    assert done["status"] == "completed" and [r["success"] for r in results] == [True, True, False, True]
    assert results[2]["error"] == "UserCreateFailed" and "Name" in results[2]["details"]
    ids = [r["id"] for r in results]

    each = finished(aws, auth, call("zendesk_update_many_users", "PUT", "/api/v2/users/update_many.json", auth,
                                    query={"ids": f"{ids[0]},{ids[1]}"}, body={"user": {"role": "agent"}}))
    assert [r["status"] for r in each["results"]] == ["Updated", "Updated"]
    listed = finished(aws, auth, call("zendesk_update_many_users", "PUT", "/api/v2/users/update_many.json", auth,
                                      body={"users": [{"id": ids[0], "name": "Renamed"},
                                                      {"external_id": "b-1", "name": "By external id"},
                                                      {"external_id": "nobody", "name": "X"}]}))
    assert [r["success"] for r in sorted(listed["results"], key=lambda r: r["index"])] == [True, True, False]
    by_external = finished(aws, auth, call("zendesk_update_many_users", "PUT", "/api/v2/users/update_many.json",
                                           auth, query={"external_ids": "b-1"}, body={"user": {"name": "Again"}}))
    assert by_external["results"][0]["id"] == ids[1]
    names = [show(auth, str(i))[2]["user"] for i in ids[:2]]
    assert [(u["name"], u["role"]) for u in names] == [("Renamed", "agent"), ("Again", "agent")]

    gone = finished(aws, auth, call("zendesk_destroy_many_users", "DELETE", "/api/v2/users/destroy_many.json", auth,
                                    query={"ids": f"{ids[0]},{ids[3]},424242"}))
    assert [r["success"] for r in sorted(gone["results"], key=lambda r: r["index"])] == [True, True, False]
    finished(aws, auth, call("zendesk_destroy_many_users", "DELETE", "/api/v2/users/destroy_many.json", auth,
                             query={"external_ids": "b-1"}))
    assert [show(auth, str(i))[0] for i in ids] == [404, 404, 404, 404]


def create_or_update_many(auth, users, path="/api/v2/users/create_or_update_many.json"):
    return call("zendesk_create_or_update_many_users", "POST", path, auth, body={"users": users})


def test_bulk_create_or_update_finds_each_by_external_id_then_email_through_job_statuses(aws, auth):
    by_external = create_or_update(auth, {"name": "Ext", "external_id": "E-1", "email": "ext@x.test"})[2]["user"]
    by_email = create_or_update(auth, {"name": "Mail", "email": "mail@x.test"})[2]["user"]
    done = finished(aws, auth, create_or_update_many(auth, [
        {"external_id": "E-1", "name": "Ext again"}, {"email": "MAIL@x.test", "name": "Mail again"},
        {"name": "Fresh", "email": "fresh@x.test"}, {"name": ""}, "not a user",
        {"external_id": "E-1", "email": "mail@x.test", "name": "X"},  # the external id decides: its email is taken
        {"name": "Ext by mail", "external_id": "E-2", "email": "ext@x.test"}],  # no such external id: by email
        path="/api/v2/users/create_or_update_many"))
    results = sorted(done["results"], key=lambda r: r["index"])
    assert done["status"] == "completed" and done["total"] == 7
    assert [(r["index"], r["action"], r["status"]) for r in results if r["success"]] == [
        (0, "update", "Updated"), (1, "update", "Updated"), (2, "create", "Created"), (6, "update", "Updated")]
    assert [r["id"] for r in results[:2]] + [results[6]["id"]] == [by_external["id"], by_email["id"], by_external["id"]]
    assert [(r["success"], r.get("error")) for r in results[3:6]] == [(False, "UserCreateOrUpdateFailed")] * 3
    assert "Name" in results[3]["details"] and "mail@x.test" in results[5]["details"]
    assert [show(auth, str(r["id"]))[2]["user"]["name"] for r in results[1:3]] == ["Mail again", "Fresh"]
    assert show(auth, str(by_external["id"]))[2]["user"]["external_id"] == "E-2"
    assert [u["id"] for u in search(auth, query="email:fresh@x.test")[2]["users"]] == [results[2]["id"]]


def test_a_job_run_again_does_each_item_once(aws, account, auth):
    from automations.bootstrap import services

    answer = call("zendesk_create_many_users", "POST", "/api/v2/users/create_many.json", auth,
                  body={"users": [{"name": "Once", "email": "once@x.test"}]})
    job_id = answer[2]["job_status"]["id"]
    work(aws)
    services().bulk_jobs.hand_on(account[0].id, job_id)  # a redelivery of the same job
    work(aws)
    done = job_status(auth, job_id)[2]["job_status"]
    assert done["status"] == "completed" and len(done["results"]) == 1 and done["results"][0]["success"]
    assert [u["name"] for u in search(auth, query="once")[2]["users"]] == ["Once"]


def test_a_create_or_update_job_stopped_after_a_change_does_it_once_when_run_again(aws, account, auth):
    from automations import config
    from automations.adapters import aws as aws_clients
    from automations.adapters.dynamo_jobs import DynamoJobStore
    from automations.adapters.sqs import SqsJobQueue
    from automations.bootstrap import services
    from automations.service.jobs import BulkJobService
    from automations.surfaces.zendesk_tickets import ticket_draft

    class StopsAfterTheChange(DynamoJobStore):
        def record(self, job, index, result):
            raise RuntimeError("the worker stops after the change committed")

    answer = create_or_update_many(auth, [{"name": "Nameonly"}, {"name": "Ext", "external_id": "E-9"}])
    job_id = answer[2]["job_status"]["id"]
    stopping = BulkJobService(StopsAfterTheChange(aws_clients.client("dynamodb"), config.table_name()),
                              services().tickets, services().users,
                              SqsJobQueue(lambda: aws_clients.client("sqs"), config.ticket_job_queue_url),
                              ticket_draft)
    with pytest.raises(RuntimeError):
        stopping.work(account[0].id, job_id, has_time=lambda: True, last_attempt=False)
    work(aws)  # its message, delivered again
    results = job_status(auth, job_id)[2]["job_status"]["results"]
    assert [(r["action"], r["status"]) for r in results] == [("create", "Created")] * 2
    assert [u["id"] for u in search(auth, query="nameonly")[2]["users"]] == [results[0]["id"]]
    assert [u["id"] for u in search(auth, query="external_id:E-9")[2]["users"]] == [results[1]["id"]]


def test_a_throttle_on_a_users_write_delays_the_job_and_refuses_no_user(aws, account, auth):
    """The second of three users' writes in an update_many job is throttled (DynamoDB past its
    retries: Busy): the user is delayed, not refused, so the job goes on later and every user is
    updated. Before, that user's result was "UserUpdateFailed ... throttled"."""
    from automations import clock
    from automations.adapters.aws import client
    from automations.errors import THROTTLED_TASK_WAIT_S
    from support import Refusal, error_answer

    ids = [create(auth, name=f"User {n}")[2]["user"]["id"] for n in range(3)]
    answer = call("zendesk_update_many_users", "PUT", "/api/v2/users/update_many.json", auth,
                  query={"ids": ",".join(map(str, ids))}, body={"user": {"name": "Renamed"}})
    second = f"USER#{ids[1]:012d}".encode()
    with frozen_clock(clock.now()) as moving:
        with Refusal(client("dynamodb"), "TransactWriteItems", error_answer("ProvisionedThroughputExceededException"),
                     when=lambda request: second in request["body"]) as throttle:
            work(aws)
        moving.advance(THROTTLED_TASK_WAIT_S)
        work(aws)
    done = job_status(auth, answer[2]["job_status"]["id"])[2]["job_status"]
    assert throttle.refused == 1 and done["status"] == "completed"
    assert [(r["id"], r["success"]) for r in done["results"]] == [(i, True) for i in ids]
    assert [show(auth, str(i))[2]["user"]["name"] for i in ids] == ["Renamed"] * 3


@pytest.mark.parametrize("function, method, path, query, body, error", [
    ("zendesk_create_many_users", "POST", "create_many", None, {"users": [{"name": "x"}] * 101}, "TooManyValues"),
    ("zendesk_create_many_users", "POST", "create_many", None, {"users": "x"}, "RecordInvalid"),
    ("zendesk_create_many_users", "POST", "create_many", None, {"user": {}}, "ParameterMissing"),
    ("zendesk_create_many_users", "POST", "create_many", None, {"users": [{"name": "x" * 200_000}]}, "RecordInvalid"),
    ("zendesk_create_or_update_many_users", "POST", "create_or_update_many", None, {"users": [{"name": "x"}] * 101},
     "TooManyValues"),
    ("zendesk_create_or_update_many_users", "POST", "create_or_update_many", None, {"users": {"name": "x"}},
     "RecordInvalid"),
    ("zendesk_create_or_update_many_users", "POST", "create_or_update_many", None, {"user": {"name": "x"}},
     "ParameterMissing"),
    ("zendesk_create_or_update_many_users", "POST", "create_or_update_many", None, [{"name": "x"}],
     "ParameterMissing"),
    ("zendesk_create_or_update_many_users", "POST", "create_or_update_many", None,
     {"users": [{"name": "x" * 200_000}]}, "RecordInvalid"),
    ("zendesk_update_many_users", "PUT", "update_many", None, {"users": [{"name": "no id"}]}, "RecordInvalid"),
    ("zendesk_update_many_users", "PUT", "update_many", None, {"users": [{"id": "7"}]}, "RecordInvalid"),
    ("zendesk_update_many_users", "PUT", "update_many", None, {"users": [{"id": 1}] * 101}, "TooManyValues"),
    ("zendesk_update_many_users", "PUT", "update_many", None, {"user": {"name": "no ids"}}, "ParameterMissing"),
    ("zendesk_update_many_users", "PUT", "update_many", {"ids": "1,x"}, {"user": {}}, "InvalidValue"),
    ("zendesk_update_many_users", "PUT", "update_many", {"ids": "1"}, {"nothing": 1}, "ParameterMissing"),
    ("zendesk_update_many_users", "PUT", "update_many", {"external_ids": ","}, {"user": {}}, "ParameterMissing"),
    ("zendesk_update_many_users", "PUT", "update_many", {"external_ids": ",".join(map(str, range(101)))},
     {"user": {}}, "TooManyValues"),
    ("zendesk_destroy_many_users", "DELETE", "destroy_many", None, None, "ParameterMissing"),
    ("zendesk_destroy_many_users", "DELETE", "destroy_many", {"ids": "1,-1"}, None, "InvalidValue"),
    ("zendesk_destroy_many_users", "DELETE", "destroy_many", {"external_ids": "x" * 300}, None, "InvalidValue"),
    ("zendesk_destroy_many_users", "DELETE", "destroy_many", {"ids": ",".join(map(str, range(1, 102)))}, None,
     "TooManyValues"),
])
def test_bad_bulk_requests(auth, function, method, path, query, body, error):
    status, _, answer = call(function, method, f"/api/v2/users/{path}.json", auth, query=query, body=body)
    assert 400 <= status < 500 and answer["error"] == error


def test_the_export_by_time_and_by_cursor_shows_changes_and_deletions(auth):
    start = 1_900_000_000
    with frozen_clock(datetime.fromtimestamp(start, UTC)) as clock:
        made = [create(auth, name=f"Export {i}")[2]["user"] for i in range(3)]  # all in one second
        clock.advance(10)
        update(auth, str(made[0]["id"]), {"user": {"name": "Changed"}})
        delete(auth, str(made[1]["id"]))
        clock.advance(100)
        walked = _walk(auth, start)
        cursor_walk = _walk(auth, start, cursor=True)
    assert walked == [(made[2]["id"], "Export 2", True), (made[0]["id"], "Changed", True),
                      (made[1]["id"], "Export 1", False)]
    assert cursor_walk == walked


def _walk(auth, start, *, cursor=False):
    """The export from ``start``, a user a page, following each page's way on."""
    walked, query = [], {"start_time": str(start), "per_page": "1"}
    for _ in range(10):  # a walk that stalls repeats a user for ever
        status, _, page = export(auth, query, cursor=cursor)
        assert status == 200
        walked += [(u["id"], u["name"], u["active"]) for u in page["users"]]
        if page["end_of_stream"]:
            return walked
        query = dict(parse_qsl(urlsplit(page["after_url" if cursor else "next_page"]).query))
    raise AssertionError(f"the export did not end: {walked}")


@pytest.mark.parametrize("query, cursor", [({}, False), ({"start_time": "x"}, False), ({"start_time": "-1"}, False),
                                           ({"start_time": "1", "per_page": "0x"}, False), ({"cursor": "!!"}, True),
                                           ({"cursor": "abc"}, False), ({"start_time": "9" * 20}, True)])
def test_bad_export_requests(auth, query, cursor):
    status, _, body = export(auth, query, cursor=cursor)
    assert status == 400 and body["error"] in ("InvalidValue", "ParameterMissing", "InvalidPaginationParameter")


def test_the_native_users_api_shows_the_same_users(auth):
    user = create(auth, name="Name Only", external_id="n-1")[2]["user"]
    status, _, body = invoke("users_get", http_event("GET", f"/v1/users/{user['id']}", route="/v1/users/{user_id}",
                                                     path_params={"user_id": str(user["id"])}, authorization=auth))
    assert status == 200 and (body["id"], body["name"], body["email"]) == (user["id"], "Name Only", None)
