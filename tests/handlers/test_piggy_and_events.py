"""The Piggy-compatible handlers (list automations, create a run) and the event path
(POST /v1/events, the ingestion function): Piggy's envelopes and error codes, both request
encodings, Idempotency-Key, and events reaching the run engine once."""
from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import urlencode

import pytest
from support import http_event, invoke, load_handler

LIST = "/api/v3/oauth/clients/automations"
RUNS = "/api/v3/oauth/clients/automations/runs"
GHOST = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def bearer(account):
    return "Bearer " + account[1]


def call(function, method, path, auth, *, body=None, raw_body=None, headers=None, request_id=None):
    event = http_event(method, path, body=body, raw_body=raw_body, authorization=auth)
    event["headers"].update(headers or {})
    if request_id:
        event["requestContext"]["requestId"] = request_id
    return invoke(function, event)


def make(function, path, auth, body):
    status, _, created = call(function, "POST", path, auth, body=body)
    assert status == 201, created
    return created


def event_automation(auth, event="contact_updated", *, title=None, active=True, conditions=None):
    template = make("templates_create", "/v1/templates", auth, {
        "title": f"Mail {uuid.uuid4().hex[:6]}", "type": "email", "subject": "Hi {{ contact.first_name }}",
        "text": "Code {{ data.code }}"})
    return make("automations_create", "/v1/automations", auth, {
        "title": title or f"On {event}", "trigger": "event", "active": active,
        "trigger_config": {"event": event}, "conditions": conditions or {"all": [], "any": []},
        "actions": [{"kind": "send_email", "template_id": template["id"]}]})


@pytest.fixture
def contact(bearer):
    return make("contacts_create", "/v1/contacts", bearer, {"email": "ada@example.com", "first_name": "Ada"})


def runs_of(account_id, automation_id):
    from automations.bootstrap import services

    return services().runs.list(account_id, automation_id=automation_id)[0]


def piggy_error(body, code, message):
    assert {k: body[k] for k in ("message", "code", "status_code")} == {"message": message, "code": code,
                                                                        "status_code": 400}
    return body.get("errors")


# -- GET /api/v3/oauth/clients/automations ---------------------------------------------------------
class TestList:
    def test_lists_the_piggy_event_automations_only(self, account, bearer):
        updated = event_automation(bearer, "contact_updated", title="Send email on birthday")
        credit = event_automation(bearer, "credit_reception_created", title="First credit", active=False)
        event_automation(bearer, "shop.order_placed")  # the host's own event: not Piggy's
        status, headers, body = call("piggy_automations_list", "GET", LIST, bearer)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert body["meta"] == [] and [a["uuid"] for a in body["data"]] == [updated["uuid"], credit["uuid"]]
        first, second = body["data"]
        assert set(first) == {"uuid", "event", "name", "status", "created_at", "updated_at"}
        assert (first["event"], first["name"], first["status"]) == ("contact_updated", "Send email on birthday",
                                                                    "active")
        assert (second["event"], second["status"]) == ("credit_reception_created", "inactive")
        assert first["created_at"].endswith("+00:00") and len(first["created_at"]) == 25

    def test_other_accounts_see_nothing(self, account, bearer):
        from automations.bootstrap import services

        event_automation(bearer)
        _, other_key = services().accounts.create_account("Other", "other@example.com", "UTC")
        assert call("piggy_automations_list", "GET", LIST, "Bearer " + other_key)[2] == {"data": [], "meta": []}

    @pytest.mark.parametrize("auth", [None, "Bearer nope", "Bearer ", "Token abc"])
    def test_401_in_piggy_format(self, account, auth):
        status, headers, body = call("piggy_automations_list", "GET", LIST, auth)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert body == {"message": "Unauthenticated.", "code": 401, "status_code": 401}


# -- POST /api/v3/oauth/clients/automations/runs ---------------------------------------------------
class TestRun:
    def test_json_body_creates_a_run_with_its_data(self, account, bearer, contact):
        automation = event_automation(bearer)
        status, _, body = call("piggy_runs_create", "POST", RUNS, bearer, body={
            "contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"], "data": {"code": "XY-1"}})
        assert (status, body) == (200, {"data": [], "meta": []})
        [run] = runs_of(account[0].id, automation["id"])
        assert (run.subject_id, run.data) == (contact["uuid"], {"code": "XY-1"})

    def test_a_run_held_for_the_contacts_own_window_is_scheduled(self, account, bearer):
        """A day's delay, then the next 09:00-10:00 in the contact's zone: the run reads its
        contact (for the zone) and is handed to the scheduler, through Piggy's function."""
        import boto3

        from automations import clock, config

        ada = make("contacts_create", "/v1/contacts", bearer, {"email": "ada@example.com",
                                                                "timezone": "America/New_York"})
        template = make("templates_create", "/v1/templates", bearer, {
            "title": "Mail", "type": "email", "subject": "Hi", "text": "Hello"})
        automation = make("automations_create", "/v1/automations", bearer, {
            "title": "Next morning", "trigger": "event", "actions": [{"kind": "send_email", "template_id": template["id"]}],
            "trigger_config": {"event": "contact_updated", "delay": {"days": 1},
                               "window": {"from": "09:00", "to": "10:00"}}})
        previous = clock.get_clock()
        clock.set_clock(clock.MovableClock(clock.parse_iso("2026-11-23T23:30:00Z"), frozen=True))
        try:
            status, _, body = call("piggy_runs_create", "POST", RUNS, bearer, body={
                "contact_uuid": ada["uuid"], "automation_uuid": automation["uuid"]})
        finally:
            clock.set_clock(previous)
        assert status == 200, body
        [run] = runs_of(account[0].id, automation["id"])
        assert run.due_at == clock.parse_iso("2026-11-25T14:00:00Z")  # 18:30 in New York a day later: 09:00 next
        assert boto3.client("scheduler").get_schedule(GroupName=config.run_schedule_group(), Name=run.id)

    def test_form_encoded_body_as_the_sdk_sends_it(self, account, bearer, contact):
        automation = event_automation(bearer)
        form = urlencode({"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"],
                          "data[code]": "AB 2", "data[gift][value]": "5", "data[tags][]": "a"})
        status, _, body = call("piggy_runs_create", "POST", RUNS, bearer, raw_body=form + "&data[tags][]=b",
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert (status, body) == (200, {"data": [], "meta": []})
        [run] = runs_of(account[0].id, automation["id"])
        assert run.data == {"code": "AB 2", "gift": {"value": "5"}, "tags": ["a", "b"]}

    def test_a_list_of_data_and_no_data(self, account, bearer, contact):
        automation = event_automation(bearer)
        for data, request_id in ((["x", "y"], "r-1"), (None, "r-2")):
            body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"], "data": data}
            assert call("piggy_runs_create", "POST", RUNS, bearer, body=body, request_id=request_id)[0] == 200
        assert sorted(repr(r.data) for r in runs_of(account[0].id, automation["id"])) == ["None", "['x', 'y']"]

    def test_base64_encoded_body(self, account, bearer, contact):
        automation = event_automation(bearer)
        event = http_event("POST", RUNS, authorization=bearer, raw_body=base64.b64encode(urlencode({
            "contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]}).encode()).decode())
        event["isBase64Encoded"] = True
        event["headers"]["content-type"] = "application/x-www-form-urlencoded; charset=utf-8"
        assert invoke("piggy_runs_create", event)[0] == 200

    @pytest.mark.parametrize("body, errors", [
        ({}, {"contact_uuid": ["The contact_uuid field is required."],
              "automation_uuid": ["The automation_uuid field is required."]}),
        ({"contact_uuid": "nope", "automation_uuid": 12}, {"contact_uuid": ["The contact_uuid must be a valid UUID."],
                                                           "automation_uuid": ["The automation_uuid must be a valid UUID."]}),
        ({"contact_uuid": GHOST, "automation_uuid": GHOST, "data": "text"}, {"data": ["The data must be an array."]}),
        ({"contact_uuid": GHOST, "automation_uuid": GHOST, "data": 5}, {"data": ["The data must be an array."]}),
    ])
    def test_invalid_input(self, account, bearer, body, errors):
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, body=body)
        assert status == 400 and piggy_error(answer, 1003, "Invalid input.") == errors

    @pytest.mark.parametrize("raw_body, content_type", [
        ("{bad json", "application/json"), ("[1, 2]", "application/json"), ("\"text\"", "application/json"),
        ("contact_uuid=%ff%fe", "application/x-www-form-urlencoded"),
        ("data" + "[a]" * 40 + "=1", "application/x-www-form-urlencoded"),
    ])
    def test_unreadable_bodies(self, account, bearer, raw_body, content_type):
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, raw_body=raw_body,
                                 headers={"content-type": content_type})
        assert status == 400 and list(piggy_error(answer, 1003, "Invalid input.")) == ["body"]

    def test_form_data_that_is_a_string(self, account, bearer):
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, raw_body=urlencode({
            "contact_uuid": GHOST, "automation_uuid": GHOST, "data": "plain"}),
            headers={"content-type": "application/x-www-form-urlencoded"})
        assert status == 400 and piggy_error(answer, 1003, "Invalid input.") == {"data": ["The data must be an array."]}

    def test_oversized_body(self, account, bearer):
        body = json.dumps({"contact_uuid": GHOST, "automation_uuid": GHOST, "data": {"x": "y" * (1024 * 1024)}})
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, raw_body=body)
        assert status == 400 and "1024 KB" in piggy_error(answer, 1003, "Invalid input.")["body"][0]

    def test_unknown_or_foreign_automation_is_model_not_found(self, account, bearer, contact):
        from automations.bootstrap import services

        _, other_key = services().accounts.create_account("Other", "other@example.com", "UTC")
        foreign = event_automation("Bearer " + other_key)
        sweep = services().automations.list(account[0].id)[0]  # the default Zendesk rule: not Piggy's
        host = event_automation(bearer, "shop.order_placed")
        for automation_uuid in (GHOST, foreign["uuid"], sweep.uuid, host["uuid"]):
            status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, body={
                "contact_uuid": contact["uuid"], "automation_uuid": automation_uuid})
            assert status == 400 and piggy_error(answer, 60013, "Model not found.") is None

    def test_unknown_or_foreign_contact_is_contact_not_found(self, account, bearer):
        from automations.bootstrap import services

        automation = event_automation(bearer)
        _, other_key = services().accounts.create_account("Other", "other@example.com", "UTC")
        foreign = make("contacts_create", "/v1/contacts", "Bearer " + other_key, {"email": "x@example.com"})
        for contact_uuid in (GHOST, foreign["uuid"]):
            status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, body={
                "contact_uuid": contact_uuid, "automation_uuid": automation["uuid"]})
            assert status == 400 and piggy_error(answer, 55031, "Contact not found.") is None
        assert runs_of(account[0].id, automation["id"]) == []

    def test_only_contact_updated_automations_can_run(self, account, bearer, contact):
        automation = event_automation(bearer, "voucher_created")
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, body={
            "contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]})
        errors = piggy_error(answer, 1003, "Invalid input.")
        assert status == 400 and list(errors) == ["automation_uuid"] and "contact_updated" in errors["automation_uuid"][0]

    def test_401_in_piggy_format(self, account, contact):
        status, _, body = call("piggy_runs_create", "POST", RUNS, "Bearer wrong", body={"contact_uuid": GHOST})
        assert (status, body) == (401, {"message": "Unauthenticated.", "code": 401, "status_code": 401})


class TestIdempotency:
    def request(self, bearer, body, key, request_id):
        return call("piggy_runs_create", "POST", RUNS, bearer, body=body, headers={"Idempotency-Key": key},
                    request_id=request_id)

    def test_a_retry_with_the_same_key_creates_one_run(self, account, bearer, contact):
        automation = event_automation(bearer)
        body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"], "data": {"code": "1"}}
        first = self.request(bearer, body, "order-77", "req-1")
        again = self.request(bearer, body, "order-77", "req-2")  # a new API Gateway request: the client's retry
        assert first[0] == again[0] == 200 and first[2] == again[2] == {"data": [], "meta": []}
        assert len(runs_of(account[0].id, automation["id"])) == 1
        assert self.request(bearer, body, "order-78", "req-3")[0] == 200  # another key: another run
        assert len(runs_of(account[0].id, automation["id"])) == 2

    def test_without_a_key_each_request_is_a_run(self, account, bearer, contact):
        automation = event_automation(bearer)
        body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]}
        for request_id in ("req-a", "req-b", "req-a"):  # the same request delivered twice is one run
            assert call("piggy_runs_create", "POST", RUNS, bearer, body=body, request_id=request_id)[0] == 200
        assert len(runs_of(account[0].id, automation["id"])) == 2

    def test_the_record_was_lost_but_the_run_is_not_doubled(self, account, bearer, contact):
        """A crash between the run write and the idempotency record: the key still names the run."""
        from automations import config
        from automations.adapters import aws

        automation = event_automation(bearer)
        body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]}
        assert self.request(bearer, body, "k-1", "req-1")[0] == 200
        db = aws.client("dynamodb")
        records = db.query(TableName=config.table_name(), KeyConditionExpression="PK = :pk",
                           ExpressionAttributeValues={":pk": {"S": f"IDEMPOTENCY#{account[0].id}"}})["Items"]
        assert len(records) == 1 and records[0]["SK"]["S"].startswith("piggy_run#")
        db.delete_item(TableName=config.table_name(), Key={"PK": records[0]["PK"], "SK": records[0]["SK"]})
        assert self.request(bearer, body, "k-1", "req-2")[0] == 200
        assert len(runs_of(account[0].id, automation["id"])) == 1

    def test_keys_are_per_account(self, account, bearer, contact):
        from automations.bootstrap import services

        _, other_key = services().accounts.create_account("Other", "other@example.com", "UTC")
        other_bearer = "Bearer " + other_key
        other_contact = make("contacts_create", "/v1/contacts", other_bearer, {"email": "o@example.com"})
        other_automation = event_automation(other_bearer)
        mine = event_automation(bearer)
        self.request(bearer, {"contact_uuid": contact["uuid"], "automation_uuid": mine["uuid"]}, "same", "r1")
        status, _, _ = self.request(other_bearer, {"contact_uuid": other_contact["uuid"],
                                                   "automation_uuid": other_automation["uuid"]}, "same", "r2")
        assert status == 200 and len(runs_of(services().accounts.authenticate(other_key, None).account_id,
                                             other_automation["id"])) == 1

    def test_the_same_key_with_another_request_is_refused(self, account, bearer, contact):
        automation = event_automation(bearer)
        body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]}
        assert self.request(bearer, body, "k-9", "r1")[0] == 200
        status, _, answer = self.request(bearer, {**body, "data": {"x": 1}}, "k-9", "r2")
        assert status == 400 and list(piggy_error(answer, 1003, "Invalid input.")) == ["Idempotency-Key"]

    def test_a_failed_attempt_is_not_remembered(self, account, bearer, contact):
        automation = event_automation(bearer)
        status, _, answer = self.request(bearer, {"contact_uuid": GHOST, "automation_uuid": automation["uuid"]},
                                         "k-2", "r1")
        assert status == 400 and answer["code"] == 55031
        body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"]}
        assert self.request(bearer, body, "k-2", "r2")[0] == 200  # the corrected request, same key
        assert len(runs_of(account[0].id, automation["id"])) == 1

    @pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é"])
    def test_ill_formed_keys(self, account, bearer, contact, key):
        status, _, answer = call("piggy_runs_create", "POST", RUNS, bearer, body={"contact_uuid": GHOST,
                                 "automation_uuid": GHOST}, headers={"Idempotency-Key": key})
        assert status == 400 and list(piggy_error(answer, 1003, "Invalid input.")) == ["Idempotency-Key"]


# -- events: POST /v1/events, the bus's rule, the product's own contact changes -> one ingestion ----
def ingestion_messages(aws):
    """Take every message waiting on the ingestion queue."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=aws.physical_name("EventsQueue"))["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return messages


def ingest(aws, messages):
    """Hand messages to the ingestion function as Lambda's SQS poller does."""
    from automations_local.queues import sqs_record

    return ingest_event(aws, {"Records": [sqs_record(m, aws.arn("EventsQueue"), "us-east-1") for m in messages]})


def ingest_event(aws, event):
    from automations_local.lambdas import LambdaContext

    return load_handler("events_ingest")(event, LambdaContext(aws.functions["EventsIngestFunction"], "us-east-1"))


def post_events(auth, body, request_id="evt-req-1"):
    return call("events_create", "POST", "/v1/events", auth, body=body, request_id=request_id)


class TestEvents:
    def test_one_event_is_accepted_and_starts_one_run(self, aws, account, bearer, contact):
        automation = event_automation(bearer, "shop.order_placed")
        status, _, body = post_events(bearer, {"event": "shop.order_placed", "contact_uuid": contact["uuid"],
                                               "data": {"code": "Z9"}})
        assert status == 202 and len(body["event_ids"]) == 1 and body["event_ids"][0].startswith("evt_")
        messages = ingestion_messages(aws)
        assert ingest(aws, messages) == {"batchItemFailures": []}
        [run] = runs_of(account[0].id, automation["id"])
        assert (run.subject_id, run.data) == (contact["uuid"], {"code": "Z9"})
        ingest(aws, messages)  # SQS delivers again: the event id names the same run
        assert len(runs_of(account[0].id, automation["id"])) == 1

    def test_a_batch_and_the_senders_own_ids(self, aws, account, bearer, contact):
        automation = event_automation(bearer, "voucher_redeemed")
        events = [{"event": "voucher_redeemed", "contact_uuid": contact["uuid"], "id": f"v-{i}"} for i in range(3)]
        first = post_events(bearer, {"events": events}, "req-1")[2]["event_ids"]
        again = post_events(bearer, {"events": events}, "req-2")[2]["event_ids"]  # the sender retried
        assert len(set(first)) == 3 and first == again
        ingest(aws, ingestion_messages(aws))
        assert len(runs_of(account[0].id, automation["id"])) == 3

    def test_a_batch_of_large_events_reaches_the_queue_whole(self, aws, account, bearer, contact):
        """Five events of 180 KB each: SQS takes at most 256 KB a batch, so one message a batch."""
        automation = event_automation(bearer, "shop.big")
        events = [{"event": "shop.big", "contact_uuid": contact["uuid"], "id": f"big-{i}", "data": {"blob": str(i) * 180_000}}
                  for i in range(5)]
        status, _, body = post_events(bearer, {"events": events})
        assert status == 202 and len(body["event_ids"]) == 5
        messages = ingestion_messages(aws)
        assert ingest(aws, messages) == {"batchItemFailures": []}
        runs = runs_of(account[0].id, automation["id"])
        assert sorted(run.data["blob"][0] for run in runs) == ["0", "1", "2", "3", "4"]

    def test_a_batch_short_of_time_hands_its_unstarted_messages_back(self, aws, account, bearer, contact, monkeypatch):
        import boto3

        from automations.service.ingestion import EventIngestion
        from automations_local.lambdas import LambdaContext

        automation = event_automation(bearer, "voucher_redeemed")
        ingest(aws, ingestion_messages(aws))  # the contact's own creation
        post_events(bearer, {"events": [{"event": "voucher_redeemed", "contact_uuid": contact["uuid"], "id": f"v-{i}"}
                                        for i in range(4)]})
        delivered, real_deliver = [], EventIngestion.deliver

        def deliver(self, event, after=None):  # each message takes 25 s of the invocation
            delivered.append(event.id)
            return real_deliver(self, event, after)

        monkeypatch.setattr(EventIngestion, "deliver", deliver)
        monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis",
                            lambda self: 60_000 - 25_000 * len(delivered))
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.get_queue_url(QueueName=aws.physical_name("EventsQueue"))["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]  # in flight, as Lambda's
        answer = ingest(aws, messages)
        # 10 s left after two: the last two go back to the queue unstarted, as new messages (a
        # batch item failure would count this receive toward the dead-letter queue's 5)
        assert answer == {"batchItemFailures": []}
        assert len(delivered) == 2 and len(runs_of(account[0].id, automation["id"])) == 2
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
        assert sorted(m["Body"] for m in again) == sorted(m["Body"] for m in messages[2:])
        assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"1"}
        delivered.clear()
        assert ingest(aws, again) == {"batchItemFailures": []}
        assert len(runs_of(account[0].id, automation["id"])) == 4

    def test_unstarted_messages_sqs_will_not_take_again_are_batch_item_failures(self, aws, account, bearer, contact,
                                                                                monkeypatch):
        """SQS refuses to take the unstarted messages again: they are the batch's item failures,
        made visible again at once, as before there was a hand-back."""
        import boto3
        from support import Refusal, error_answer

        from automations.adapters import aws as product_aws
        from automations.service.ingestion import EventIngestion
        from automations_local.lambdas import LambdaContext

        ingest(aws, ingestion_messages(aws))  # the contact's own creation
        event_automation(bearer, "voucher_redeemed")
        post_events(bearer, {"events": [{"event": "voucher_redeemed", "contact_uuid": contact["uuid"], "id": f"v-{i}"}
                                        for i in range(3)]})
        delivered, real_deliver = [], EventIngestion.deliver
        monkeypatch.setattr(EventIngestion, "deliver", lambda self, event, after=None: (
            delivered.append(event.id), real_deliver(self, event, after))[1])
        monkeypatch.setattr(LambdaContext, "get_remaining_time_in_millis", lambda self: 60_000 - 50_000 * len(delivered))
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.get_queue_url(QueueName=aws.physical_name("EventsQueue"))["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        with Refusal(product_aws.client("sqs"), "SendMessageBatch", error_answer("AWS.SimpleQueueService.Throttled"),
                     times=100, when=lambda request: aws.physical_name("EventsQueue") in str(request.get("body"))):
            answer = ingest(aws, messages)
        assert answer == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages[1:]]}
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert sorted(m["MessageId"] for m in again) == sorted(m["MessageId"] for m in messages[1:])

    def test_a_throttled_event_goes_back_to_the_queue_a_while_later_as_a_new_message(self, aws, account, bearer,
                                                                                       contact):
        """DynamoDB throttles the ingestion of one event past every retry: it is not a batch item
        failure (SQS would bring it back after the queue's visibility timeout, one of its 5
        receives) but a new message THROTTLED_TASK_WAIT_S later; the batch's other event goes on."""
        import boto3
        from support import Refusal, error_answer

        from automations.adapters import aws as product_aws
        from automations.errors import THROTTLED_TASK_WAIT_S

        automation = event_automation(bearer, "voucher_redeemed")
        ingest(aws, ingestion_messages(aws))  # the contact's own creation
        post_events(bearer, {"events": [{"event": "voucher_redeemed", "contact_uuid": contact["uuid"], "id": f"v-{i}"}
                                        for i in range(2)]})
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.get_queue_url(QueueName=aws.physical_name("EventsQueue"))["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        with Refusal(product_aws.client("dynamodb"), "PutItem",
                     error_answer("ProvisionedThroughputExceededException"), times=1) as throttle:
            answer = ingest(aws, messages)
        assert throttle.refused == 1 and answer == {"batchItemFailures": []}
        assert len(runs_of(account[0].id, automation["id"])) == 1
        queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert queue["ApproximateNumberOfMessagesDelayed"] == "1" and THROTTLED_TASK_WAIT_S == 30

    def test_conditions_pick_the_contacts(self, aws, account, bearer, contact):
        automation = event_automation(bearer, "shop.paid", conditions={
            "all": [{"field": "data.total", "operator": "greater_than", "value": 100}], "any": []})
        post_events(bearer, {"events": [
            {"event": "shop.paid", "contact_uuid": contact["uuid"], "data": {"total": 50}},
            {"event": "shop.paid", "contact_uuid": contact["uuid"], "data": {"total": 150}}]})
        ingest(aws, ingestion_messages(aws))
        assert [r.data for r in runs_of(account[0].id, automation["id"])] == [{"total": 150}]

    @pytest.mark.parametrize("body, field", [
        ({"event": "not_a_piggy_event", "contact_uuid": GHOST}, "event"),
        ({"event": "shop order", "contact_uuid": GHOST}, "event"),
        ({"event": "shop.paid", "contact_uuid": "nope"}, "contact_uuid"),
        ({"events": [{"event": "shop.paid", "contact_uuid": GHOST}, {"event": "bad", "contact_uuid": GHOST}]},
         "events.1.event"),
    ])
    def test_invalid_events_are_refused_whole(self, aws, account, bearer, body, field):
        status, _, answer = post_events(bearer, body)
        assert status == 422 and answer["error"]["code"] == "invalid"
        assert [d["field"] for d in answer["error"]["details"]] == [field]
        assert ingestion_messages(aws) == []

    @pytest.mark.parametrize("body", [
        {"event": "shop.paid"}, {"event": "shop.paid", "contact_uuid": GHOST, "data": [1]},
        {"event": "shop.paid", "contact_uuid": GHOST, "colour": "red"}, {"events": []},
        {"events": [{"event": "shop.paid", "contact_uuid": GHOST}] * 101},
        {"event": "shop.paid", "contact_uuid": GHOST, "occurred_at": "2026-11-22T09:00:00"},
    ])
    def test_ill_shaped_bodies(self, aws, account, bearer, body):
        status, _, answer = post_events(bearer, body)
        assert status == 422 and answer["error"]["code"] == "invalid"

    def test_malformed_and_unauthenticated(self, aws, account, bearer):
        assert call("events_create", "POST", "/v1/events", bearer, raw_body="{bad")[2]["error"]["code"] == "malformed"
        status, _, answer = call("events_create", "POST", "/v1/events", None, body={"event": "shop.paid"})
        assert (status, answer["error"]["code"]) == (401, "unauthenticated")
        oversized = json.dumps({"event": "shop.paid", "contact_uuid": GHOST, "data": {"x": "y" * (1024 * 1024)}})
        assert call("events_create", "POST", "/v1/events", bearer, raw_body=oversized)[0] == 413

    def test_an_unknown_contact_starts_nothing_and_is_not_retried(self, aws, account, bearer):
        automation = event_automation(bearer, "shop.paid")
        post_events(bearer, {"event": "shop.paid", "contact_uuid": GHOST})
        assert ingest(aws, ingestion_messages(aws)) == {"batchItemFailures": []}
        assert runs_of(account[0].id, automation["id"]) == []


class TestBusAndContactChanges:
    def put(self, aws, entries):
        """Put events on the product's bus, the ingestion queue emptied first (of contact_created)."""
        import boto3

        ingestion_messages(aws)

        events = boto3.client("events", region_name="us-east-1")
        answer = events.put_events(Entries=[{"EventBusName": aws.physical_name("EventBus"), "Source": "shop",
                                             **entry} for entry in entries])
        assert answer["FailedEntryCount"] == 0

    def test_the_hosts_events_on_the_bus_start_runs_and_the_engines_own_do_not(self, aws, account, bearer, contact):
        automation = event_automation(bearer, "shop.order_placed")
        detail = {"account_id": account[0].id, "contact_uuid": contact["uuid"], "data": {"code": "EB"}}
        self.put(aws, [{"DetailType": "shop.order_placed", "Detail": json.dumps(detail)},
                       {"DetailType": "automation.run_succeeded", "Detail": json.dumps(detail)}])
        messages = ingestion_messages(aws)
        assert [json.loads(m["Body"])["detail-type"] for m in messages] == ["shop.order_placed"]
        ingest(aws, messages + messages)
        [run] = runs_of(account[0].id, automation["id"])
        assert run.data == {"code": "EB"}

    def test_the_senders_event_id_makes_a_resent_event_the_same(self, aws, account, bearer, contact):
        automation = event_automation(bearer, "shop.order_placed")
        detail = json.dumps({"account_id": account[0].id, "contact_uuid": contact["uuid"], "event_id": "order-1"})
        self.put(aws, [{"DetailType": "shop.order_placed", "Detail": detail}] * 2)
        ingest(aws, ingestion_messages(aws))
        assert len(runs_of(account[0].id, automation["id"])) == 1

    @pytest.mark.parametrize("detail", [
        {"contact_uuid": GHOST}, {"account_id": "acc_x", "contact_uuid": "nope"},
        {"account_id": "acc_x", "contact_uuid": GHOST, "data": "text"},
    ])
    def test_unusable_bus_events_are_dropped_not_retried(self, aws, account, detail):
        self.put(aws, [{"DetailType": "shop.order_placed", "Detail": json.dumps(detail)}])
        assert ingest(aws, ingestion_messages(aws)) == {"batchItemFailures": []}

    def test_a_contact_update_fires_contact_updated_automations(self, aws, account, bearer, contact):
        updated = event_automation(bearer, "contact_updated")
        created = event_automation(bearer, "contact_created")
        ingestion_messages(aws)  # the fixture contact's contact_created, left out of this test
        status, _, _ = call("contacts_update", "PATCH", f"/v1/contacts/{contact['uuid']}", bearer,
                            body={"last_name": "Lovelace"})
        assert status == 200
        call("contacts_update", "PATCH", f"/v1/contacts/{contact['uuid']}", bearer, body={"last_name": "Lovelace"})
        new = make("contacts_create", "/v1/contacts", bearer, {"email": "new@example.com"})
        messages = ingestion_messages(aws)
        assert sorted(json.loads(m["Body"])["event"] for m in messages) == ["contact_created", "contact_updated"]
        ingest(aws, messages)
        assert [r.subject_id for r in runs_of(account[0].id, updated["id"])] == [contact["uuid"]]
        assert [r.subject_id for r in runs_of(account[0].id, created["id"])] == [new["uuid"]]

    def test_a_broken_message_is_dropped(self, aws, account):
        message = {"MessageId": "m-1", "ReceiptHandle": "r", "Body": "not json", "MD5OfBody": "x"}
        assert ingest(aws, [message, {**message, "MessageId": "m-2", "Body": '{"event": 1}'}]) == {
            "batchItemFailures": []}


class TestSampleEvents:
    """events/ holds what `sam local invoke -e` replays; they must stay true to the handlers."""

    def test_the_sdks_form_encoded_run(self, account, bearer, contact):
        from support import sample_event

        automation = event_automation(bearer)
        event = json.loads(json.dumps(sample_event("piggy_runs_create"))
                           .replace("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", contact["uuid"])
                           .replace("9b2e7c1a-4d3f-4e5a-8b6c-7d8e9f0a1b2c", automation["uuid"]))
        event["headers"]["authorization"] = bearer
        status, _, body = invoke("piggy_runs_create", event)
        assert (status, body) == (200, {"data": [], "meta": []})
        [run] = runs_of(account[0].id, automation["id"])
        assert run.data == {"voucher_code": "WELCOME10", "gift": {"value": "5"}}

    def test_an_eventbridge_event_from_the_queue(self, aws, account, bearer, contact):
        from support import sample_event

        automation = event_automation(bearer, "shop.order_placed")
        event = json.loads(json.dumps(sample_event("events_ingest_eventbridge"))
                           .replace("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", contact["uuid"])
                           .replace("acc_0123456789abcdef", account[0].id))
        assert ingest_event(aws, event) == ingest_event(aws, event) == {"batchItemFailures": []}  # redelivered
        [run] = runs_of(account[0].id, automation["id"])
        assert run.data == {"order": "1001", "total": 42.5}
