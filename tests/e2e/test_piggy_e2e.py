"""End to end over the local runtime: Piggy's automations API as its SDK speaks it (Bearer,
form-encoded and JSON), the automation's email sent with the run's data rendered, each error on
the wire, Idempotency-Key, and events (EventBridge, POST /v1/events, a contact update through
/v1/contacts) each firing the matching automation exactly once."""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import boto3
import pytest

pytestmark = pytest.mark.e2e

LIST = "/api/v3/oauth/clients/automations"
RUNS = "/api/v3/oauth/clients/automations/runs"
GHOST = "00000000-0000-4000-8000-000000000000"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def piggy(local_runtime):
    account = local_runtime.create_account("Piggy Shop")
    client = local_runtime.as_account({"Authorization": f"Bearer {account['api_key']}", "Accept": "application/json"})
    call, make = client.call, client.make

    def automation(event, subject, body, **extra):
        template = make("/v1/templates", {"title": f"T {uuid.uuid4().hex[:6]}", "type": "email",
                                          "subject": subject, "text": body})
        return make("/v1/automations", {"title": f"On {event}", "trigger": "event", "trigger_config": {"event": event},
                                        "actions": [{"kind": "send_email", "template_id": template["id"]}], **extra})

    def settle():
        """Drain the queues: events ingested, runs executed, mail sent (and, when another test
        moved the clock past the hour, the hourly sweep of every account: the default drain time)."""
        response = local_runtime.request("POST", "/_local/scheduler/tick")
        assert response.status_code == 200, response.text

    def mails_to(address):
        deliveries = local_runtime.request("GET", f"/_local/outbox?channel=email&account_id={account['account_id']}")
        return sorted((d["subject"], d["body"]) for d in deliveries.json()["deliveries"] if d["recipient"] == address)

    account.update(call=call, make=make, automation=automation, settle=settle, mails_to=mails_to)
    return account


def test_the_piggy_flow_form_encoded_and_json(piggy):
    call, make, settle, mails_to = piggy["call"], piggy["make"], piggy["settle"], piggy["mails_to"]
    birthday = piggy["automation"]("contact_updated", "Hi {{ contact.first_name }}",
                                   "Code {{ run.data.code }} / {{ data.gift.value }}")
    piggy["automation"]("credit_reception_created", "Credit", "x", active=False)
    contact = make("/v1/contacts", {"email": f"ada-{uuid.uuid4().hex[:6]}@example.com", "first_name": "Ada"})
    settle()  # contact_created: no automation of that event

    listed = call("GET", LIST)
    assert listed.status_code == 200 and listed.json()["meta"] == []
    assert [(a["uuid"], a["event"], a["status"]) for a in listed.json()["data"]] == [
        (birthday["uuid"], "contact_updated", "active"), (listed.json()["data"][1]["uuid"], "credit_reception_created",
                                                          "inactive")]
    assert listed.json()["data"][0]["created_at"].endswith("+00:00")

    # The SDK's encoding: form fields, data[key]=value.
    form = urlencode({"contact_uuid": contact["uuid"], "automation_uuid": birthday["uuid"],
                      "data[code]": "FORM-1", "data[gift][value]": "5 EUR"})
    response = call("POST", RUNS, data=form, headers=FORM)
    assert (response.status_code, response.json()) == (200, {"data": [], "meta": []})
    response = call("POST", RUNS, json={"contact_uuid": contact["uuid"], "automation_uuid": birthday["uuid"],
                                        "data": {"code": "JSON-2", "gift": {"value": "10 EUR"}}})
    assert (response.status_code, response.json()) == (200, {"data": [], "meta": []})
    settle()
    assert mails_to(contact["email"]) == [("Hi Ada", "Code FORM-1 / 5 EUR"), ("Hi Ada", "Code JSON-2 / 10 EUR")]


def test_errors_on_the_wire(piggy, local_runtime):
    call, make = piggy["call"], piggy["make"]
    voucher = piggy["automation"]("voucher_created", "V", "v")
    runnable = piggy["automation"]("contact_updated", "R", "r")
    contact = make("/v1/contacts", {"email": f"err-{uuid.uuid4().hex[:6]}@example.com"})

    def run(**body):
        response = call("POST", RUNS, data=urlencode(body), headers=FORM)
        assert response.status_code == 400 and response.json()["status_code"] == 400, response.text
        return response.json()

    missing = run()
    assert (missing["code"], missing["message"]) == (1003, "Invalid input.")
    assert set(missing["errors"]) == {"contact_uuid", "automation_uuid"}
    assert run(contact_uuid="nope", automation_uuid=runnable["uuid"])["errors"] == {
        "contact_uuid": ["The contact_uuid must be a valid UUID."]}
    assert run(contact_uuid=contact["uuid"], automation_uuid=runnable["uuid"], data="x")["errors"] == {
        "data": ["The data must be an array."]}
    assert run(contact_uuid=GHOST, automation_uuid=runnable["uuid"])["code"] == 55031
    assert run(contact_uuid=contact["uuid"], automation_uuid=GHOST) == {
        "message": "Model not found.", "code": 60013, "status_code": 400}
    wrong_event = run(contact_uuid=contact["uuid"], automation_uuid=voucher["uuid"])
    assert wrong_event["code"] == 1003 and list(wrong_event["errors"]) == ["automation_uuid"]
    too_large = call("POST", RUNS, data=b'{"data": "' + b"x" * (1024 * 1024) + b'"}',
                     headers={"Content-Type": "application/json"})
    assert too_large.status_code == 400 and too_large.json()["code"] == 1003
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = local_runtime.request("GET", LIST, headers=headers)
        assert (response.status_code, response.json()) == (401, {"message": "Unauthenticated.", "code": 401,
                                                                  "status_code": 401})


def test_an_idempotent_retry_runs_once(piggy):
    call, make, settle, mails_to = piggy["call"], piggy["make"], piggy["settle"], piggy["mails_to"]
    automation = piggy["automation"]("contact_updated", "Once", "Code {{ data.code }}")
    contact = make("/v1/contacts", {"email": f"once-{uuid.uuid4().hex[:6]}@example.com"})
    body = {"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"], "data": {"code": "K"}}
    answers = [call("POST", RUNS, json=body, headers={"Idempotency-Key": "order-1234"}) for _ in range(3)]
    assert {(a.status_code, a.text) for a in answers} == {(200, '{"data":[],"meta":[]}')}
    reused = call("POST", RUNS, json={**body, "data": {"code": "other"}}, headers={"Idempotency-Key": "order-1234"})
    assert reused.status_code == 400 and list(reused.json()["errors"]) == ["Idempotency-Key"]
    settle()
    assert mails_to(contact["email"]) == [("Once", "Code K")]
    runs = call("GET", f"/v1/runs?automation_id={automation['id']}").json()["runs"]
    assert len(runs) == 1


def test_events_from_the_bus_from_v1_events_and_from_a_contact_update_each_fire_once(piggy, local_runtime):
    call, make, settle, mails_to = piggy["call"], piggy["make"], piggy["settle"], piggy["mails_to"]
    piggy["automation"]("shop.order_placed", "Order", "Order {{ data.order }}")
    piggy["automation"]("contact_updated", "Updated", "Now {{ contact.last_name }}")
    contact = make("/v1/contacts", {"email": f"ev-{uuid.uuid4().hex[:6]}@example.com"})
    settle()

    runtime = local_runtime.runtime
    events = boto3.client("events", region_name=runtime.template.region, endpoint_url=runtime.aws_endpoint)
    detail = {"account_id": piggy["account_id"], "contact_uuid": contact["uuid"], "data": {"order": "EB-1"}}
    answer = events.put_events(Entries=[
        {"EventBusName": runtime.template.physical_name("EventBus"), "Source": "shop", "DetailType": detail_type,
         "Detail": json.dumps(detail)} for detail_type in ("shop.order_placed", "automation.run_succeeded")])
    assert answer["FailedEntryCount"] == 0
    accepted = call("POST", "/v1/events", json={"event": "shop.order_placed", "contact_uuid": contact["uuid"],
                                                "data": {"order": "API-2"}})
    assert accepted.status_code == 202 and len(accepted.json()["event_ids"]) == 1
    assert call("PATCH", f"/v1/contacts/{contact['uuid']}", json={"last_name": "Byron"}).status_code == 200
    settle()
    settle()  # nothing more arrives on a second drain
    assert mails_to(contact["email"]) == [("Order", "Order API-2"), ("Order", "Order EB-1"), ("Updated", "Now Byron")]
