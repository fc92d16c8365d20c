"""Zendesk's bulk ticket requests: the request makes a job, the worker (driven here from the real
queue) does it, item by item, once."""
import json
import os

import boto3
import pytest
from support import Refusal, basic_auth, error_answer, frozen_clock, http_event, invoke, ticket_store
from zendesk_pages import cursor_pages

from automations.domain.messages import TicketJob

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


@pytest.fixture
def auth(account):
    return account[2]


def create(auth, subject="Printer on fire", **fields):
    body = {"ticket": {"subject": subject, "description": "Smoke.", **fields}}
    return invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json", body=body,
                                                      authorization=auth))[2]["ticket"]


def bulk(function, method, path, auth, *, body=None, query=None):
    return invoke(function, http_event(method, path, body=body, query=query, authorization=auth))


def create_many(auth, tickets):
    return bulk("zendesk_create_many_tickets", "POST", "/api/v2/tickets/create_many.json", auth,
                body={"tickets": tickets})


def job_status(auth, job_id):
    return invoke("zendesk_show_job_status", http_event("GET", f"/api/v2/job_statuses/{job_id}.json",
                                                        route="/api/v2/job_statuses/{id}",
                                                        path_params={"id": f"{job_id}.json"}, authorization=auth))


def show(auth, ticket_id):
    return invoke("zendesk_show_ticket", http_event("GET", f"/api/v2/tickets/{ticket_id}.json",
                                                    route="/api/v2/tickets/{id}", path_params={"id": str(ticket_id)},
                                                    authorization=auth))


def audits(auth, ticket_id):
    return invoke("zendesk_list_ticket_audits", http_event(
        "GET", f"/api/v2/tickets/{ticket_id}/audits.json", route="/api/v2/tickets/{id}/audits.json",
        path_params={"id": str(ticket_id)}, authorization=auth))[2]["audits"]


def work(aws, *, receive_count=1):
    """Deliver every queued job message to the worker, as the SQS event source would."""
    from automations_local.lambdas import invoke as invoke_function

    sqs, url = boto3.client("sqs"), os.environ["TICKET_JOB_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        record = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                  "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1",
                                 "SenderId": "x", "ApproximateFirstReceiveTimestamp": "1"},
                  "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                  "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:TicketJobQueue", "awsRegion": "us-east-1"}
        answer = invoke_function(aws.functions["TicketJobWorkerFunction"], {"Records": [record]})
        assert answer == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def test_create_many_is_a_job_done_by_the_worker(aws, auth):
    status, _, body = create_many(auth, [{"subject": "One", "description": "a"}, {"subject": "Two", "comment": {"body": "b"}}])
    job = body["job_status"]
    assert status == 200 and (job["status"], job["total"], job["progress"], job["results"]) == ("queued", 2, None, None)
    assert job["id"].startswith("V3-") and job["url"].endswith(f"/api/v2/job_statuses/{job['id']}.json")
    assert job_status(auth, job["id"])[2]["job_status"]["status"] == "queued"

    [message] = work(aws)
    done = job_status(auth, job["id"])[2]["job_status"]
    assert (done["status"], done["progress"]) == ("completed", 2) and done["message"].startswith("Completed at ")
    assert [(r["index"], r["action"], r["success"], r["status"]) for r in done["results"]] == [
        (0, "create", True, "Created"), (1, "create", True, "Created")]
    ids = [r["id"] for r in done["results"]]
    assert [show(auth, i)[2]["ticket"]["subject"] for i in ids] == ["One", "Two"]

    # the same message again (a redelivery) changes nothing
    from automations.bootstrap import services
    account_id = message["account_id"]
    services().bulk_jobs.work(account_id, job["id"], has_time=lambda: True, last_attempt=False)
    assert services().tickets.list_page(account_id, 1, 100).count == 2


def test_a_bad_item_fails_alone(aws, auth):
    job = create_many(auth, [{"subject": "Fine", "description": "ok"}, {"status": "bogus", "description": "x"},
                             "not a ticket"])[2]["job_status"]
    work(aws)
    results = job_status(auth, job["id"])[2]["job_status"]["results"]
    assert [r["success"] for r in results] == [True, False, False]
    assert results[1]["error"] == "TicketCreateFailed" and "Status" in results[1]["details"]
    assert show(auth, results[0]["id"])[0] == 200 and show(auth, results[1]["id"])[0] == 404


def test_update_many_both_forms_and_a_job_run_again_applies_nothing_twice(aws, auth, account):
    from automations import config
    from automations.adapters import aws as aws_clients
    from automations.adapters.dynamo_jobs import DynamoJobStore
    from automations.bootstrap import services
    from automations.domain import job as jobs

    a, b = create(auth, "A"), create(auth, "B")
    each = bulk("zendesk_update_many_tickets", "PUT", "/api/v2/tickets/update_many.json", auth,
                query={"ids": f"{a['id']},{b['id']},999"}, body={"ticket": {"status": "open",
                                                                          "comment": {"body": "On it"}}})
    listed = bulk("zendesk_update_many_tickets", "PUT", "/api/v2/tickets/update_many.json", auth,
                  body={"tickets": [{"id": a["id"], "priority": "high"}, {"id": b["id"], "tags": ["x"]}]})
    assert each[0] == listed[0] == 200
    work(aws)
    first = job_status(auth, each[2]["job_status"]["id"])[2]["job_status"]["results"]
    assert [(r["id"], r["success"]) for r in first] == [(a["id"], True), (b["id"], True), (999, False)]
    assert first[2]["error"] == "TicketUpdateFailed"
    assert show(auth, a["id"])[2]["ticket"]["priority"] == "high" and show(auth, b["id"])[2]["ticket"]["tags"] == ["x"]
    comments = [e for audit in audits(auth, a["id"]) for e in audit["events"] if e["type"] == "Comment"]
    assert [c["body"] for c in comments] == ["Smoke.", "On it"]

    # Run the finished job again as if it had never been marked done: every item is skipped.
    store = DynamoJobStore(aws_clients.client("dynamodb"), config.table_name())
    job = store.get(account[0].id, each[2]["job_status"]["id"])
    store.set_status(job, jobs.WORKING, None)
    services().bulk_jobs.work(account[0].id, job.id, has_time=lambda: True, last_attempt=False)
    assert len(audits(auth, a["id"])) == 3  # created, commented, prioritised: not commented twice

    # An item another worker finished meanwhile: the change and its result commit together, or neither.
    item = store.items(account[0].id, job.id)[0]
    services().bulk_jobs._do(job, jobs.JobItem(item.index, item.request), last_attempt=False)
    assert len(audits(auth, a["id"])) == 3


def test_destroy_many(aws, auth):
    a, b = create(auth, "A"), create(auth, "B")
    job = bulk("zendesk_destroy_many_tickets", "DELETE", "/api/v2/tickets/destroy_many.json", auth,
               query={"ids": f"{a['id']},{b['id']}"})[2]["job_status"]
    assert show(auth, a["id"])[0] == 200  # not before the worker
    work(aws)
    assert [r["status"] for r in job_status(auth, job["id"])[2]["job_status"]["results"]] == ["Deleted", "Deleted"]
    assert show(auth, a["id"])[0::2] == show(auth, b["id"])[0::2] == (404, NOT_FOUND)


def test_destroy_many_racing_a_delete_records_the_ticket_not_found(aws, auth, account, monkeypatch):
    """An agent deletes the second of three tickets through the API a moment before the job
    does: the job's delete loses the race, and its item ends with the result of a ticket not
    found (as for an id that was never there), not with none while the job says completed."""
    from automations.bootstrap import services

    tickets = [create(auth, f"T{n}") for n in range(3)]
    job = bulk("zendesk_destroy_many_tickets", "DELETE", "/api/v2/tickets/destroy_many.json", auth,
               query={"ids": ",".join(str(t["id"]) for t in tickets)})[2]["job_status"]
    store = services().tickets._store
    real_delete = store.delete

    def an_agent_first(ticket, also=(), **kwargs):
        if also and ticket.id == tickets[1]["id"]:  # the job's delete (it carries the item's result)
            assert delete(auth, ticket.id)[0] == 204
        return real_delete(ticket, also, **kwargs)

    monkeypatch.setattr(store, "delete", an_agent_first)
    services().bulk_jobs.work(account[0].id, job["id"], has_time=lambda: True, last_attempt=False)
    done = job_status(auth, job["id"])[2]["job_status"]
    assert done["status"] == "completed"
    assert [(r["id"], r["success"], r.get("error"), r.get("details")) for r in done["results"]] == [
        (tickets[0]["id"], True, None, None),
        (tickets[1]["id"], False, "TicketDeleteFailed", f"ticket {tickets[1]['id']} not found"),
        (tickets[2]["id"], True, None, None)]
    assert deleted_tickets(auth)[2]["count"] == 3


def test_an_error_is_retried_and_on_the_last_delivery_fails_only_its_item(aws, auth, account, monkeypatch):
    from automations.bootstrap import services

    a, b = create(auth, "A"), create(auth, "B")
    job = bulk("zendesk_update_many_tickets", "PUT", "/api/v2/tickets/update_many.json", auth,
               query={"ids": f"{a['id']},{b['id']}"}, body={"ticket": {"status": "open"}})[2]["job_status"]
    real = services().tickets.update

    def flaky(account_id, ticket_id, *args, **kwargs):
        if ticket_id == a["id"]:
            raise RuntimeError("poison")
        return real(account_id, ticket_id, *args, **kwargs)

    monkeypatch.setattr(services().tickets, "update", flaky)
    with pytest.raises(RuntimeError):
        services().bulk_jobs.work(account[0].id, job["id"], has_time=lambda: True, last_attempt=False)
    services().bulk_jobs.work(account[0].id, job["id"], has_time=lambda: True, last_attempt=True)
    status = job_status(auth, job["id"])[2]["job_status"]
    assert status["status"] == "completed"
    assert [(r["success"], r.get("error")) for r in status["results"]] == [(False, "InternalError"), (True, None)]
    assert show(auth, b["id"])[2]["ticket"]["status"] == "open"


@pytest.mark.parametrize("operation, refused", [
    ("UpdateItem", lambda request: b'"SK": {"S": "JOB#' in request["body"] and b"completed" in request["body"]),
    ("Query", lambda request: b"#JOB#" in request["body"]),
], ids=["writing its status completed", "reading its items"])
def test_a_throttle_on_the_last_delivery_hands_the_job_on_neither_failed_nor_stuck(aws, auth, account, operation,
                                                                                  refused):
    """The job's last delivery is throttled (its status "completed" written, or its items read):
    a throttle is a delay, so the delivery ends handing the job on, THROTTLED_TASK_WAIT_S later, as a
    new message whose delivery is its first, and that one completes the job. Never a job failed,
    nor one left "working" for ever with no message left to finish it."""
    from automations import clock
    from automations.adapters.aws import client
    from automations.errors import THROTTLED_TASK_WAIT_S

    a, b = create(auth, "A"), create(auth, "B")
    job = bulk("zendesk_update_many_tickets", "PUT", "/api/v2/tickets/update_many.json", auth,
               query={"ids": f"{a['id']},{b['id']}"}, body={"ticket": {"priority": "high"}})[2]["job_status"]
    with frozen_clock(clock.now()) as moving:
        with Refusal(client("dynamodb"), operation, error_answer("ProvisionedThroughputExceededException"),
                     when=refused) as throttle:
            work(aws, receive_count=5)
        assert throttle.refused == 1 and job_status(auth, job["id"])[2]["job_status"]["status"] == "working"
        assert work(aws) == []  # not yet
        moving.advance(THROTTLED_TASK_WAIT_S)
        assert work(aws) == [{"account_id": account[0].id, "job_id": job["id"]}]
    done = job_status(auth, job["id"])[2]["job_status"]
    assert done["status"] == "completed" and [r["success"] for r in done["results"]] == [True, True]
    assert show(auth, a["id"])[2]["ticket"]["priority"] == show(auth, b["id"])[2]["ticket"]["priority"] == "high"


@pytest.mark.parametrize("receive_count", [1, 5], ids=["a delivery", "the last delivery"])
def test_a_throttle_on_an_items_write_delays_the_job_and_each_item_is_applied_once(aws, auth, account, receive_count):
    """The write of the third of five tickets' changes is throttled (DynamoDB past its retries:
    Busy), on a delivery or on the last one: the item is delayed, not refused, so the job goes
    on later and every item ends a success, each ticket changed once. Before, the item's result
    was "TicketUpdateFailed ... throttled" on any delivery."""
    from automations import clock
    from automations.adapters.aws import client
    from automations.errors import THROTTLED_TASK_WAIT_S

    tickets = [create(auth, f"T{n}") for n in range(5)]
    job = bulk("zendesk_update_many_tickets", "PUT", "/api/v2/tickets/update_many.json", auth,
               query={"ids": ",".join(str(t["id"]) for t in tickets)},
               body={"ticket": {"comment": {"body": "bulk"}, "additional_tags": ["b"]}})[2]["job_status"]
    third = f'TICKET#{tickets[2]["id"]:012d}'.encode()
    with frozen_clock(clock.now()) as moving:
        with Refusal(client("dynamodb"), "TransactWriteItems", error_answer("ProvisionedThroughputExceededException"),
                     when=lambda request: third in request["body"]) as throttle:
            work(aws, receive_count=receive_count)
        moving.advance(THROTTLED_TASK_WAIT_S)
        work(aws)
    done = job_status(auth, job["id"])[2]["job_status"]
    assert throttle.refused == 1 and done["status"] == "completed"
    assert [r["success"] for r in done["results"]] == [True] * 5, done["results"]
    for t in tickets:
        assert len(audits(auth, t["id"])) == 2 and show(auth, t["id"])[2]["ticket"]["tags"] == ["b"]


def test_a_job_out_of_time_is_handed_on(aws, auth, account):
    from automations.bootstrap import services

    job = create_many(auth, [{"subject": "One", "description": "a"}])[2]["job_status"]
    done = services().bulk_jobs.work(account[0].id, job["id"], has_time=lambda: False, last_attempt=False)
    assert done.done == "working" and done.rest == TicketJob(account[0].id, job["id"])
    assert job_status(auth, job["id"])[2]["job_status"]["status"] == "working"
    # the request's message, and the one the worker handed on (the job is done once, then found done)
    assert work(aws) == [{"account_id": account[0].id, "job_id": job["id"]}] * 2
    assert job_status(auth, job["id"])[2]["job_status"]["status"] == "completed"


def test_a_malformed_job_message_fails_alone(aws, auth, account):
    from automations_local.lambdas import invoke as invoke_function

    job = create_many(auth, [{"subject": "One", "description": "a"}])[2]["job_status"]
    sqs, url = boto3.client("sqs"), os.environ["TICKET_JOB_QUEUE_URL"]
    [message] = sqs.receive_message(QueueUrl=url).get("Messages", [])
    records = [{"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": body, "md5OfBody": "", "eventSource": "aws:sqs",
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1", "SenderId": "x",
                               "ApproximateFirstReceiveTimestamp": "1"}, "messageAttributes": {},
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:TicketJobQueue", "awsRegion": "us-east-1"}
               for n, body in enumerate(['{"job_id": "V3-x"}', message["Body"], "not json"])]
    answer = invoke_function(aws.functions["TicketJobWorkerFunction"], {"Records": records})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}]}
    assert job_status(auth, job["id"])[2]["job_status"]["status"] == "completed"


def test_show_many(aws, auth):
    a, b = create(auth, "A"), create(auth, "B")
    status, _, body = bulk("zendesk_show_many_tickets", "GET", "/api/v2/tickets/show_many.json", auth,
                           query={"ids": f"{b['id']},999,{a['id']}"})
    assert status == 200 and [t["id"] for t in body["tickets"]] == [b["id"], a["id"]]
    jobs = [create_many(auth, [])[2]["job_status"]["id"] for _ in range(2)]
    listed = invoke("zendesk_show_many_job_statuses", http_event(
        "GET", "/api/v2/job_statuses/show_many.json", query={"ids": ",".join([*jobs, "V3-nope"])}, authorization=auth))
    assert [j["id"] for j in listed[2]["job_statuses"]] == jobs


HUNDRED_AND_ONE = ",".join(str(i) for i in range(1, 102))


@pytest.mark.parametrize("function, method, path, query, body, status, error", [
    ("zendesk_create_many_tickets", "POST", "create_many", None, {"tickets": [{}] * 101}, 400, "TooManyValues"),
    ("zendesk_update_many_tickets", "PUT", "update_many", None, {"tickets": [{"id": 1}] * 101}, 400, "TooManyValues"),
    ("zendesk_update_many_tickets", "PUT", "update_many", {"ids": HUNDRED_AND_ONE}, {"ticket": {}}, 400,
     "TooManyValues"),
    ("zendesk_destroy_many_tickets", "DELETE", "destroy_many", {"ids": HUNDRED_AND_ONE}, None, 400, "TooManyValues"),
    ("zendesk_show_many_tickets", "GET", "show_many", {"ids": HUNDRED_AND_ONE}, None, 400, "TooManyValues"),
    ("zendesk_create_many_tickets", "POST", "create_many", None, {"tickets": {"subject": "x"}}, 422, "RecordInvalid"),
    ("zendesk_create_many_tickets", "POST", "create_many", None, {"ticket": {}}, 400, "ParameterMissing"),
    ("zendesk_create_many_tickets", "POST", "create_many", None, {"tickets": [{"description": "x" * 900_000}]}, 422,
     "RecordInvalid"),
    ("zendesk_update_many_tickets", "PUT", "update_many", {"ids": "1,2"}, {"ticket": {"subject": "x" * 200_000}}, 422,
     "RecordInvalid"),
    ("zendesk_update_many_tickets", "PUT", "update_many", None, {"tickets": [{"status": "open"}]}, 422,
     "RecordInvalid"),
    ("zendesk_update_many_tickets", "PUT", "update_many", {"ids": "1,x"}, {"ticket": {}}, 400, "InvalidValue"),
    ("zendesk_update_many_tickets", "PUT", "update_many", {"ids": "1"}, {"tickets": []}, 400, "ParameterMissing"),
    ("zendesk_destroy_many_tickets", "DELETE", "destroy_many", None, None, 400, "ParameterMissing"),
    ("zendesk_show_many_tickets", "GET", "show_many", {"ids": "abc"}, None, 400, "InvalidValue"),
])
def test_bad_bulk_requests(aws, auth, function, method, path, query, body, status, error):
    got = bulk(function, method, f"/api/v2/tickets/{path}.json", auth, query=query, body=body)
    assert (got[0], got[2]["error"]) == (status, error)


def test_job_statuses_of_other_accounts_and_nonsense_are_not_found(aws, auth):
    from automations.bootstrap import services

    job = create_many(auth, [])[2]["job_status"]
    other, key = services().accounts.create_account("Other", "o@other.test")
    assert job_status(basic_auth(other.email, key), job["id"])[0::2] == (404, NOT_FOUND)
    for nonsense in ("V3-nope", "1", "x" * 500, "V3-" + "g" * 32):
        assert job_status(auth, nonsense)[0::2] == (404, NOT_FOUND)
    missing = invoke("zendesk_show_many_job_statuses", http_event("GET", "/api/v2/job_statuses/show_many.json",
                                                                  authorization=auth))
    assert (missing[0], missing[2]["error"]) == (400, "ParameterMissing")


# -- deleted tickets -------------------------------------------------------------------------------
def deleted_tickets(auth, **query):
    return invoke("zendesk_list_deleted_tickets", http_event("GET", "/api/v2/deleted_tickets.json", query=query or None,
                                                             authorization=auth))


def on_deleted(function, method, auth, raw_id, suffix=""):
    return invoke(function, http_event(method, f"/api/v2/deleted_tickets/{raw_id}{suffix}",
                                       route=f"/api/v2/deleted_tickets/{{id}}{suffix}", path_params={"id": raw_id},
                                       authorization=auth))


def delete(auth, ticket_id):
    return invoke("zendesk_delete_ticket", http_event("DELETE", f"/api/v2/tickets/{ticket_id}.json",
                                                      route="/api/v2/tickets/{id}", path_params={"id": str(ticket_id)},
                                                      authorization=auth))


def test_a_deleted_ticket_is_listed_restored_and_not_swept(aws, auth, account):
    a, b = create(auth, "A", status="open"), create(auth, "B")
    assert delete(auth, a["id"])[0] == 204 and show(auth, a["id"])[0] == 404
    status, _, body = deleted_tickets(auth)
    assert status == 200 and body["count"] == 1
    [entry] = body["deleted_tickets"]
    assert (entry["id"], entry["subject"], entry["previous_state"]) == (a["id"], "A", "open")
    assert entry["actor"] == {"id": a["submitter_id"], "name": "owner"} and entry["deleted_at"].endswith("Z")
    sweepable = [t.id for shard in range(8)
                 for t in ticket_store().sweepable_page(account[0].id, shard, 100, None)[0]]
    assert sweepable == [b["id"]]

    assert on_deleted("zendesk_restore_deleted_ticket", "PUT", auth, str(a["id"]), "/restore.json")[0::2] == (200, {})
    back = show(auth, a["id"])[2]["ticket"]
    assert {**back, "updated_at": None} == {**a, "updated_at": None} and deleted_tickets(auth)[2]["count"] == 0
    exported = export(auth, start_time=0)[2]["tickets"]
    assert [(t["id"], t["status"]) for t in exported] == [(b["id"], "new"), (a["id"], "open")]  # back, last
    assert on_deleted("zendesk_restore_deleted_ticket", "PUT", auth, str(a["id"]), "/restore")[0::2] == \
        (404, NOT_FOUND)  # not deleted (any more)


def test_restore_many_restores_those_it_finds(aws, auth):
    a, b = create(auth, "A"), create(auth, "B")
    delete(auth, a["id"]), delete(auth, b["id"])
    status, _, body = bulk("zendesk_restore_many_deleted_tickets", "PUT", "/api/v2/deleted_tickets/restore_many.json",
                           auth, query={"ids": f"{a['id']},{b['id']},999"})
    assert (status, body) == (200, {}) and show(auth, a["id"])[0] == show(auth, b["id"])[0] == 200
    too_many = bulk("zendesk_restore_many_deleted_tickets", "PUT", "/api/v2/deleted_tickets/restore_many.json",
                    auth, query={"ids": HUNDRED_AND_ONE})
    assert (too_many[0], too_many[2]["error"]) == (400, "TooManyValues")


def test_permanent_deletion_is_a_job_and_takes_the_audits(aws, auth, account):
    a, b, live = create(auth, "A"), create(auth, "B"), create(auth, "Live")
    delete(auth, a["id"]), delete(auth, b["id"])
    assert on_deleted("zendesk_destroy_deleted_ticket", "DELETE", auth, str(live["id"]))[0::2] == (404, NOT_FOUND)
    one = on_deleted("zendesk_destroy_deleted_ticket", "DELETE", auth, f"{a['id']}.json")[2]["job_status"]
    many = bulk("zendesk_destroy_many_deleted_tickets", "DELETE", "/api/v2/deleted_tickets/destroy_many.json", auth,
                query={"ids": f"{b['id']},{live['id']}"})[2]["job_status"]
    work(aws)
    assert [r["success"] for r in job_status(auth, one["id"])[2]["job_status"]["results"]] == [True]
    results = job_status(auth, many["id"])[2]["job_status"]["results"]
    assert [(r["id"], r["success"]) for r in results] == [(b["id"], True), (live["id"], False)]
    assert deleted_tickets(auth)[2] == {"deleted_tickets": [], "next_page": None, "previous_page": None, "count": 0}
    store = ticket_store()
    assert store.list_audits(account[0].id, a["id"]) == [] and store.list_audits(account[0].id, b["id"]) == []
    assert len(store.list_audits(account[0].id, live["id"])) == 1 and show(auth, live["id"])[0] == 200
    restore = on_deleted("zendesk_restore_deleted_ticket", "PUT", auth, str(a["id"]), "/restore")
    assert restore[0::2] == (404, NOT_FOUND)


def test_other_accounts_deleted_tickets_are_invisible(aws, auth):
    from automations.bootstrap import services

    a = create(auth, "A")
    delete(auth, a["id"])
    other, key = services().accounts.create_account("Other", "o@other.test")
    theirs = basic_auth(other.email, key)
    assert deleted_tickets(theirs)[2]["count"] == 0
    assert on_deleted("zendesk_restore_deleted_ticket", "PUT", theirs, str(a["id"]), "/restore")[0] == 404
    assert on_deleted("zendesk_destroy_deleted_ticket", "DELETE", theirs, str(a["id"]))[0] == 404
    for raw in ("abc", "0", "1" * 20):
        assert on_deleted("zendesk_restore_deleted_ticket", "PUT", auth, raw, "/restore")[0::2] == (404, NOT_FOUND)
    assert deleted_tickets(auth, page="x")[0] == 400


# -- every audit of the account ----------------------------------------------------------------------
def account_audits(auth, **query):
    return invoke("zendesk_list_account_audits", http_event("GET", "/api/v2/ticket_audits.json", query=query or None,
                                                            authorization=auth))


def test_every_audit_of_the_account_newest_first_by_cursor(aws, auth):
    from automations.bootstrap import services

    a, b = create(auth, "A"), create(auth, "B")
    invoke("zendesk_update_ticket", http_event("PUT", f"/api/v2/tickets/{a['id']}.json", route="/api/v2/tickets/{id}",
                                               path_params={"id": str(a["id"])}, authorization=auth,
                                               body={"ticket": {"priority": "high"}}))
    (a_created, a_changed), (b_created,) = audits(auth, a["id"]), audits(auth, b["id"])
    expected = [a_changed, b_created, a_created]  # the order they were made in, newest first
    pages = cursor_pages(lambda query: account_audits(auth, **query), {"page[size]": "2"})
    assert [x["id"] for page in pages for x in page["audits"]] == [x["id"] for x in expected]
    body = pages[-1]
    back = account_audits(auth, **{"page[size]": "2", "page[before]": body["meta"]["before_cursor"]})[2]
    assert [x["id"] for x in back["audits"]] == [x["id"] for x in expected[:2]] and back["meta"]["has_more"] is False
    other, key = services().accounts.create_account("Other", "o@other.test")
    assert account_audits(basic_auth(other.email, key))[2]["audits"] == []


@pytest.mark.parametrize("query", [{"page[size]": "101"}, {"page[after]": "not-a-cursor"}, {"page[size]": "x"},
                                   {"page[after]": "WzFd", "page[before]": "WzFd"}, {"page[after]": "WzFd"}])
def test_bad_audit_pages(aws, auth, query):
    status, _, body = account_audits(auth, **query)
    assert status == 400 and body["error"] == "InvalidPaginationParameter"


# -- incremental exports -------------------------------------------------------------------------------
def export(auth, by_cursor=False, **query):
    name, path = (("zendesk_incremental_tickets_cursor", "/api/v2/incremental/tickets/cursor.json") if by_cursor
                  else ("zendesk_incremental_tickets", "/api/v2/incremental/tickets.json"))
    return invoke(name, http_event("GET", path, query={k: str(v) for k, v in query.items()} or None,
                                   authorization=auth))


@pytest.fixture
def history(aws, auth):
    """Tickets made an hour apart (A, B, C), then A changed and B deleted, all over by now:
    (tickets, start instant)."""
    from datetime import timedelta

    from automations import clock

    previous = clock.get_clock()
    moving = clock.MovableClock(clock.now().replace(microsecond=0) - timedelta(hours=5), frozen=True)
    clock.set_clock(moving)
    try:
        start = moving.now()
        made = []
        for subject in "ABC":
            made.append(create(auth, subject))
            moving.advance(3600)
        invoke("zendesk_update_ticket", http_event("PUT", f"/api/v2/tickets/{made[0]['id']}.json",
                                                   route="/api/v2/tickets/{id}", path_params={"id": str(made[0]["id"])},
                                                   authorization=auth, body={"ticket": {"priority": "low"}}))
        moving.advance(3600)
        delete(auth, made[1]["id"])
    finally:
        clock.set_clock(previous)
    return made, int(start.timestamp())


def test_time_based_export_in_the_order_tickets_changed(auth, history):
    (a, b, c), start = history
    status, _, body = export(auth, start_time=start)
    assert status == 200 and body["end_of_stream"] is True and body["count"] == 3
    assert [(t["id"], t["status"]) for t in body["tickets"]] == [(c["id"], "new"), (a["id"], "new"),
                                                                (b["id"], "deleted")]
    assert [t["generated_timestamp"] for t in body["tickets"]] == [start + 2 * 3600, start + 3 * 3600, start + 4 * 3600]
    # Zendesk's: end_time is the last ticket's generated_timestamp + 1, where next_page starts
    assert body["end_time"] == start + 4 * 3600 + 1 and body["next_page"].endswith(f"start_time={start + 4 * 3600 + 1}")
    first = export(auth, start_time=start, per_page=2)[2]
    assert ([t["id"] for t in first["tickets"]], first["end_of_stream"]) == ([c["id"], a["id"]], False)
    assert first["end_time"] == start + 3 * 3600 + 1 and "cursor" not in first["next_page"]
    rest = export(auth, start_time=first["end_time"], per_page=2)[2]
    assert [t["id"] for t in rest["tickets"]] == [b["id"]] and rest["end_of_stream"] is True
    assert export(auth, start_time=start + 2 * 3600 + 1)[2]["tickets"][0]["id"] == a["id"]


def test_cursor_export_follows_after_cursor(auth, history):
    (a, b, c), start = history
    seen, query = [], {"start_time": start, "per_page": 1}
    while True:
        status, _, body = export(auth, by_cursor=True, **query)
        assert status == 200
        seen += [t["id"] for t in body["tickets"]]
        assert body["after_url"].endswith(f"cursor={body['after_cursor']}")
        if body["end_of_stream"]:
            break
        query = {"cursor": body["after_cursor"], "per_page": 1}
    assert seen == [c["id"], a["id"], b["id"]]
    again = export(auth, by_cursor=True, cursor=body["after_cursor"])[2]
    assert (again["tickets"], again["after_cursor"], again["end_of_stream"]) == ([], body["after_cursor"], True)


def test_export_is_per_account(auth, history):
    from automations.bootstrap import services

    other, key = services().accounts.create_account("Other", "o@other.test")
    assert export(basic_auth(other.email, key), start_time=0)[2]["tickets"] == []


@pytest.mark.parametrize("by_cursor, query, error", [
    (False, {}, "ParameterMissing"), (True, {}, "ParameterMissing"), (False, {"start_time": "yesterday"}, "InvalidValue"),
    (False, {"start_time": "-5"}, "InvalidValue"), (False, {"start_time": "9" * 30}, "InvalidValue"),
    (True, {"start_time": "1", "per_page": "x"}, "InvalidValue"), (True, {"cursor": "nope"}, "InvalidPaginationParameter"),
    (True, {"cursor": "WzFd"}, "InvalidPaginationParameter"),
])
def test_bad_export_requests(aws, auth, by_cursor, query, error):
    status, _, body = export(auth, by_cursor, **query)
    assert (status, body["error"]) == (400, error)
