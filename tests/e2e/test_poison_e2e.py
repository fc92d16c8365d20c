"""Poison records on the local runtime: a stored rule with a 5,000-digit recipient and a ticket
title with a lone surrogate fail alone (or are sent as U+FFFD); the sweep answer says what
failed, and a sweep whose tasks died answers so instead of 200. The poison is written to the
table directly, below the API's checks, as records stored before them can be. And nothing is
lost: a Piggy run with large data announces its success."""
import base64
import dataclasses
import json
import time

import boto3
import pytest

from automations import config
from automations.adapters.dynamo import DynamoAutomationStore
from automations.adapters.dynamo_runs import runs_key
from automations.domain.model import Action

pytestmark = pytest.mark.e2e


@pytest.fixture
def helpdesk(local_runtime):
    account = local_runtime.create_account("Poison Co")
    token = base64.b64encode(f"{account['email']}/token:{account['api_key']}".encode()).decode()
    return account, local_runtime.as_account({"Authorization": f"Basic {token}"})


def _table(local_runtime):
    return boto3.client("dynamodb", endpoint_url=local_runtime.runtime.aws_endpoint), config.table_name()


def _rule(desk, title, actions):
    conditions = {"all": [{"field": "status", "operator": "is", "value": "open"},
                          {"field": "OPEN", "operator": "greater_than", "value": "2"}]}
    return desk.make("/api/v2/automations.json", {"automation": {"title": title, "conditions": conditions,
                                                                  "actions": actions}})["automation"]


def test_a_sweep_isolates_poison_and_reports_it(helpdesk, local_runtime, clock):
    account, desk = helpdesk
    db, table = _table(local_runtime)
    _rule(desk, "Greet", [{"field": "priority", "value": "urgent"},
                          {"field": "notification_user", "value": ["requester_id", "About {{ticket.title}}", "Hi"]}])
    tagged = _rule(desk, "Tag", [{"field": "current_tags", "value": "seen"}])
    store = DynamoAutomationStore(db, table)
    stored = store.get(account["account_id"], tagged["id"])
    store.replace(stored, dataclasses.replace(stored, actions=(
        *stored.actions, Action("notification_user", ("5" * 5000, "s", "b")))), 500)
    tickets = [desk.make("/api/v2/tickets.json", {"ticket": {
        "subject": f"Printer {n}", "comment": {"body": "It jams"}, "status": "open",
        "requester": {"name": "Rita", "email": f"rita.poison{n}@example.com"}}})["ticket"]["id"] for n in range(4)]
    key = {"PK": {"S": f"ACCOUNT#{account['account_id']}"}, "SK": {"S": f"TICKET#{tickets[0]:012d}"}}
    document = json.loads(db.get_item(TableName=table, Key=key)["Item"]["data"]["S"])
    db.update_item(TableName=table, Key=key, UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
                   ExpressionAttributeValues={":d": {"S": json.dumps({**document, "subject": "Broken \ud83d"})}})
    clock.advance(3 * 3600 + 60)

    answer = local_runtime.request("POST", "/_local/sweep")
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["firings_failed"] >= 4 and summary["shards_failed"] == 0 and summary["automations_fired"] >= 4

    outbox = local_runtime.request("GET", "/_local/outbox?channel=email").json()["deliveries"]
    subjects = {d["recipient"]: d["subject"] for d in outbox if d["recipient"].startswith("rita.poison")}
    assert subjects == {"rita.poison0@example.com": "About Broken \ufffd",
                        **{f"rita.poison{n}@example.com": f"About Printer {n}" for n in range(1, 4)}}
    failed = desk.call("GET", "/v1/runs", params={"automation_id": tagged["id"], "status": "failed"}).json()["runs"]
    assert sorted(int(r["subject"]["id"]) for r in failed) == sorted(tickets)
    assert all("is not a user id" in r["error"] for r in failed)
    for ticket_id in tickets:
        ticket = desk.call("GET", f"/api/v2/tickets/{ticket_id}.json").json()["ticket"]
        assert ticket["priority"] == "urgent"


def test_a_sweep_whose_tasks_die_does_not_answer_success(helpdesk, local_runtime, clock, monkeypatch):
    from automations.service.sweep import SweepWorker

    account, desk = helpdesk
    desk.make("/api/v2/tickets.json", {"ticket": {"subject": "Jam", "comment": {"body": "It jams"}, "status": "open"}})
    real_process = SweepWorker.process

    def die_for_this_account(self, task, has_time):
        if task.account_id == account["account_id"]:
            raise RuntimeError("the worker dies on every try")
        return real_process(self, task, has_time)

    monkeypatch.setattr(SweepWorker, "process", die_for_this_account)
    clock.advance(3600)
    answer = local_runtime.request("POST", "/_local/sweep")
    assert answer.status_code == 500, answer.text
    assert answer.json()["shards_failed"] == 8 and "8 of" in answer.json()["error"]


def test_a_piggy_run_with_large_data_announces_its_success(local_runtime):
    account = local_runtime.create_account("Big Data Shop")
    piggy = local_runtime.as_account({"Authorization": f"Bearer {account['api_key']}", "Accept": "application/json"})
    template = piggy.make("/v1/templates", {"title": "Voucher", "type": "email", "subject": "Your voucher",
                                            "text": "Code {{ data.k00007 }}"})
    automation = piggy.make("/v1/automations", {"title": "On update", "trigger": "event",
                                                "trigger_config": {"event": "contact_updated"},
                                                "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    contact = piggy.make("/v1/contacts", {"email": "big.data@example.com"})
    # 12,000 keys, about 185 KB: within Piggy's 200 KB limit on data, past the announcement's 64 KB
    data = {f"k{n:05d}": n * 10 for n in range(12_000)}
    body = json.dumps({"contact_uuid": contact["uuid"], "automation_uuid": automation["uuid"], "data": data},
                      separators=(",", ":"))
    answer = piggy.call("POST", "/api/v3/oauth/clients/automations/runs", data=body,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert local_runtime.request("POST", "/_local/scheduler/tick").status_code == 200
    [run] = piggy.call("GET", "/v1/runs", params={"automation_id": automation["id"]}).json()["runs"]
    assert run["status"] == "succeeded"
    outbox = local_runtime.request("GET", f"/_local/outbox?account_id={account['account_id']}").json()["deliveries"]
    sent = {d["recipient"]: d for d in outbox if d["status"] == "sent"}
    assert sent["big.data@example.com"]["body"] == "Code 70"
    detail = json.loads(sent["automation.run.succeeded"]["body"])
    assert detail["run_id"] == run["id"] and detail["data"] is None and detail["data_omitted"] is True


# -- stored records no code can read fail alone ----------------------------------------------------
def _spoil(db, table, key):
    """Make the item at ``key`` unreadable, as a record written by hand or by an older version."""
    db.update_item(TableName=table, Key=key, UpdateExpression="SET #d = :d", ExpressionAttributeNames={"#d": "data"},
                   ExpressionAttributeValues={":d": {"S": "{written by hand"}})


def test_an_unreadable_rule_leaves_the_account_swept(helpdesk, local_runtime, clock):
    account, desk = helpdesk
    db, table = _table(local_runtime)
    good = _rule(desk, "Escalate", [{"field": "priority", "value": "urgent"}])
    broken = _rule(desk, "Broken", [{"field": "current_tags", "value": "seen"}])
    _spoil(db, table, {"PK": {"S": f"ACCOUNT#{account['account_id']}"}, "SK": {"S": f"AUTOMATION#{broken['id']:012d}"}})
    ticket = desk.make("/api/v2/tickets.json", {"ticket": {"subject": "Jam", "comment": {"body": "It jams"},
                                                           "status": "open"}})["ticket"]
    clock.advance(3 * 3600 + 60)

    answer = local_runtime.request("POST", "/_local/sweep")
    assert answer.status_code == 200, answer.text
    assert answer.json()["shards_failed"] == 0 and answer.json()["automations_fired"] >= 1
    assert desk.call("GET", f"/api/v2/tickets/{ticket['id']}.json").json()["ticket"]["priority"] == "urgent"
    listed = desk.call("GET", "/api/v2/automations.json")
    assert listed.status_code == 200, listed.text
    ids = {a["id"] for a in listed.json()["automations"]}
    assert good["id"] in ids and broken["id"] not in ids


def _settled_runs(local_runtime, api, automation_id, attempts=60):
    """The automation's runs by subject once none is still on its way: each tick fires what is
    due and drains the queues, but a send paced or handed back waits a moment in its queue."""
    for _ in range(attempts):
        assert local_runtime.request("POST", "/_local/scheduler/tick").status_code == 200
        runs = {r["subject"]["id"]: r for r in api.call("GET", "/v1/runs",
                                                        params={"automation_id": automation_id}).json()["runs"]}
        if runs and all(r["status"] not in ("scheduled", "running") for r in runs.values()):
            return runs
        time.sleep(0.5)
    return runs


def test_an_unreadable_contact_fails_its_event_runs_visibly(local_runtime):
    account = local_runtime.create_account("Unreadable Contacts")
    api = local_runtime.as_account({"Authorization": f"Bearer {account['api_key']}"})
    db, table = _table(local_runtime)
    template = api.make("/v1/templates", {"title": "Thanks", "type": "email", "subject": "Thanks",
                                          "text": "Order {{ data.order }}"})
    automation = api.make("/v1/automations", {"title": "On order", "trigger": "event",
                                              "trigger_config": {"event": "shop.order_placed"},
                                              "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    spoiled, fine = (api.make("/v1/contacts", {"email": f"{name}@example.com"}) for name in ("spoiled", "fine"))
    _spoil(db, table, {"PK": {"S": f"ACCOUNT#{account['account_id']}"}, "SK": {"S": f"CONTACT#{spoiled['uuid']}"}})
    answer = api.call("POST", "/v1/events", json={"events": [
        {"event": "shop.order_placed", "contact_uuid": c["uuid"], "data": {"order": c["email"]}} for c in (spoiled, fine)]})
    assert answer.status_code == 202, answer.text
    runs = _settled_runs(local_runtime, api, automation["id"])
    assert runs[fine["uuid"]]["status"] == "succeeded"
    assert runs[spoiled["uuid"]]["status"] == "failed"
    assert "the contact could not be read" in runs[spoiled["uuid"]]["error"]
    sqs = boto3.client("sqs", endpoint_url=local_runtime.runtime.aws_endpoint)
    dead = sqs.get_queue_url(QueueName=local_runtime.runtime.template.physical_name("EventsDeadLetterQueue"))
    assert sqs.get_queue_attributes(QueueUrl=dead["QueueUrl"], AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_an_unreadable_run_leaves_the_listing_whole(local_runtime):
    account = local_runtime.create_account("Unreadable Runs")
    api = local_runtime.as_account({"Authorization": f"Bearer {account['api_key']}"})
    db, table = _table(local_runtime)
    template = api.make("/v1/templates", {"title": "Hi", "type": "email", "subject": "Hi", "text": "Hi"})
    automation = api.make("/v1/automations", {"title": "On update", "trigger": "event",
                                              "trigger_config": {"event": "contact_updated"},
                                              "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    for n in range(3):
        contact = api.make("/v1/contacts", {"email": f"run{n}@example.com"})
        assert api.call("PATCH", f"/v1/contacts/{contact['uuid']}", json={"first_name": "Ada"}).status_code == 200
    assert local_runtime.request("POST", "/_local/scheduler/tick").status_code == 200
    runs = api.call("GET", "/v1/runs", params={"automation_id": automation["id"]}).json()["runs"]
    assert len(runs) == 3
    _spoil(db, table, runs_key(account["account_id"], runs[1]["id"]))

    for params in ({"automation_id": automation["id"]}, {}, {"contact_uuid": runs[1]["subject"]["id"]}):
        listed = api.call("GET", "/v1/runs", params=params)
        assert listed.status_code == 200, listed.text
        ids = {r["id"] for r in listed.json()["runs"]}
        assert runs[1]["id"] not in ids
        if "contact_uuid" not in params:
            assert {runs[0]["id"], runs[2]["id"]} <= ids
